"""Test configuration: float64 everywhere so references agree to 1e-5 and beyond.

Tests that need float32 behaviour pass float32 arrays explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)
