"""Test configuration: float64 everywhere so references agree to 1e-5 and beyond.

Tests that need float32 behaviour pass float32 arrays explicitly. Protocol
sweeps run in this process (``DALIB_WORKERS=1``) unless a test asks for local
worker processes explicitly (``workers=2``). The command line's persistent
compilation cache is off (``DALIB_JAX_CACHE=off``) so that tests write nothing
under the home folder; tests/train/test_compile_cache.py turns it on in a
temporary folder.
"""

import os

import jax

jax.config.update("jax_enable_x64", True)
os.environ.setdefault("DALIB_WORKERS", "1")
os.environ.setdefault("DALIB_JAX_CACHE", "off")
