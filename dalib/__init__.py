"""dalib: functional JAX domain-adaptation alignment losses for emotion recognition.

Submodules are imported lazily by the user: ``from dalib import losses, kernels``.
"""

__version__ = "0.1.0"
