"""Squared Euclidean distances between sample sets (used by :mod:`dalib.kernels`).

Public through :mod:`dalib.kernels`: :func:`pairwise_sq_dists`,
:func:`rowwise_sq_dists`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks


def _check_pair(x: ArrayLike, y: ArrayLike, names: tuple[str, str] = ("x", "y")):
    """Kernel inputs: two 2-D arrays with the same feature size (static checks only)."""
    x = _checks.as_array(x, names[0])
    y = _checks.as_array(y, names[1])
    for v, name in ((x, names[0]), (y, names[1])):
        if np.ndim(v) != 2:
            raise ValueError(
                f"kernel input `{name}` must be 2-D [num_samples, num_features], got shape "
                f"{tuple(np.shape(v))}; reshape a single sample to [1, d] and scalars "
                "per sample to [n, 1]."
            )
    if np.shape(x)[-1] != np.shape(y)[-1]:
        raise ValueError(
            f"kernel inputs `{names[0]}` and `{names[1]}` must have the same feature size, got "
            f"shapes {tuple(np.shape(x))} and {tuple(np.shape(y))}."
        )
    return jnp.asarray(x), jnp.asarray(y)


def _common_point(*sets: jax.Array) -> jax.Array:
    r"""A point amid the sets (mean of their means), without gradient.

    Distances do not depend on it; subtracting it first keeps
    :math:`\|x\|^2 + \|y\|^2 - 2x^\top y` from cancelling when the data sit far
    from the origin (for data at :math:`c \pm O(1)` the subtraction is even exact).
    """
    means = [jnp.mean(s, axis=0) for s in sets if s.shape[0]]
    if not means:
        return jnp.zeros(sets[0].shape[1:], sets[0].dtype)
    return jax.lax.stop_gradient(sum(means) / len(means))


def pairwise_sq_dists(x: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""Squared Euclidean distances ``[n, m]`` without an ``[n, m, d]`` tensor.

    .. math:: D_{ij} = \|x_i - c\|^2 + \|y_j - c\|^2 - 2\,(x_i - c)^\top (y_j - c),

    clipped at 0 against round-off, with :math:`c` the mean of the two sets'
    means (held constant: :math:`D` does not depend on it, but without it the
    expansion cancels catastrophically for features far from the origin). When
    ``n == m`` the entries :math:`D_{ii}` are computed directly as
    :math:`\|x_i - y_i\|^2`, so :math:`D(x, x)` has an exact zero diagonal at any
    scale. Smooth everywhere, so its gradient is finite even where points
    coincide.

    Args:
      x: ``[n, d]``.
      y: ``[m, d]``.

    Returns:
      ``[n, m]`` squared distances.

    Raises:
      ValueError: ``x`` or ``y`` not 2-D, or different feature sizes.

    Examples:
      >>> import jax.numpy as jnp
      >>> pairwise_sq_dists(jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0], [0.0, 1.0]]))
      Array([[25.,  1.]], dtype=float32)
    """
    x, y = _check_pair(x, y)
    dtype = jnp.result_type(x, y)
    x, y = x.astype(dtype), y.astype(dtype)
    c = _common_point(x, y)
    x, y = x - c, y - c
    xx = jnp.sum(x * x, axis=-1)[:, None]
    yy = jnp.sum(y * y, axis=-1)[None, :]
    xy = jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)
    d2 = jnp.maximum(xx + yy - 2.0 * xy, 0.0)
    n, m = x.shape[0], y.shape[0]
    if n == m:
        # The correction carries no gradient: the backward pass stays that of the
        # expansion (whose derivative, 2(x_i - y_j), is accurate), so the fix
        # costs one fused select in the forward pass and nothing in the backward.
        eye = jax.lax.broadcasted_iota(jnp.int32, (n, n), 0) == jax.lax.broadcasted_iota(
            jnp.int32, (n, n), 1
        )
        exact = _row_sq(x - y)[:, None]
        d2 = d2 + jax.lax.stop_gradient(jnp.where(eye, exact - d2, 0.0))
    return d2


def _row_sq(diff: jax.Array) -> jax.Array:
    return jnp.sum(diff * diff, axis=-1)


def rowwise_sq_dists(x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Squared distances between matching rows, ``||x_i - y_i||²`` as ``[n]``.

    Raises:
      ValueError: ``x`` or ``y`` not 2-D, or different shapes.
    """
    x, y = _check_pair(x, y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"row-wise kernel values need one row of `y` per row of `x`, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}."
        )
    return _row_sq(x - y)


def _safe_sqrt(d2: jax.Array) -> jax.Array:
    # sqrt has an infinite derivative at 0; route zeros around it so the
    # gradient there is 0 (a valid subgradient) instead of NaN.
    positive = d2 > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, d2, 1.0)), 0.0)
