"""DJDA: joint alignment with a dynamic factor.

dalib run --config configs/djda.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "djda"``."""
    config = default.get_config()
    config.method = "djda"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
