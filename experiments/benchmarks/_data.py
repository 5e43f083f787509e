"""Synthetic data shared by the benchmarks; numpy only, so PyTorch workers can use it
without importing JAX."""

from __future__ import annotations

import numpy as np


def functionals(n: int, seed: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 384-d rows imitating openSMILE functionals, 4 classes; ``shift`` moves the domain.

    The class means are shared by every domain; ``shift`` adds a fixed random
    mixing of the features and an offset, so two calls with different shifts
    are a source and a target domain.
    """
    rng = np.random.default_rng(1234)  # class means shared by both domains
    means = rng.normal(size=(4, 384))
    mix = np.eye(384) + shift * np.random.default_rng(99).normal(size=(384, 384)) / 20.0
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = means[y] + 2.0 * rng.normal(size=(n, 384))
    x = x @ mix + 3.0 * shift
    return x.astype(np.float32), y.astype(np.int32)
