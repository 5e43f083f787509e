"""Float64 NumPy Gram matrices for the shallow methods (linear and Gaussian)."""

from __future__ import annotations

import numpy as np

KERNELS = ("linear", "rbf")

# The median heuristic looks at no more than this many pooled points (a
# deterministic subsample), so that it costs O(2000^2) whatever N is.
_MEDIAN_POINTS = 2000


def sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``[n, m]``, clipped at 0 against round-off."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def median_bandwidth(pooled: np.ndarray) -> float:
    r"""The median heuristic :math:`\sigma^2 = \tfrac12 \operatorname{median}_{i<j} D_{ij}`.

    With it the Gaussian kernel is :math:`\exp(-D / \operatorname{median} D)`, the
    ``"median"`` rule of :class:`dalib.kernels.MultiGaussian`. Returns ``sigma``.
    """
    n = pooled.shape[0]
    if n > _MEDIAN_POINTS:
        idx = np.linspace(0, n - 1, _MEDIAN_POINTS).astype(np.int64)
        pooled = pooled[idx]
        n = _MEDIAN_POINTS
    d2 = sq_dists(pooled, pooled)[np.triu_indices(n, k=1)]
    med = float(np.median(d2)) if d2.size else 0.0
    if med <= 0.0:
        med = float(np.mean(d2)) if d2.size and np.mean(d2) > 0 else 1.0
    return float(np.sqrt(0.5 * med))


def gram(kind: str, a: np.ndarray, b: np.ndarray, bandwidth: float | None = None) -> np.ndarray:
    """``k(a_i, b_j)`` as ``[n, m]``: ``"linear"`` ``a bᵀ``; ``"rbf"`` ``exp(-D / (2σ²))``."""
    if kind == "linear":
        return a @ b.T
    if kind == "rbf":
        if bandwidth is None:
            raise ValueError("the rbf kernel needs a bandwidth")
        return np.exp(-sq_dists(a, b) / (2.0 * bandwidth * bandwidth))
    raise ValueError(f"unknown kernel {kind!r}; choose one of {KERNELS}")
