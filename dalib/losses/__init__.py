"""Alignment losses: pure functions of arrays (``jit``/``grad``/``vmap`` safe).

Implementations live in private modules; this module re-exports them flat, one
name per line.
"""
