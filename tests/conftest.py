"""Test configuration: float64 everywhere so references agree to 1e-5 and beyond.

Tests that need float32 behaviour pass float32 arrays explicitly. Protocol
sweeps run in this process (``DALIB_WORKERS=1``) unless a test asks for local
worker processes explicitly (``workers=2``).
"""

import os

import jax

jax.config.update("jax_enable_x64", True)
os.environ.setdefault("DALIB_WORKERS", "1")
