r"""Proxy A-distance: how well a linear classifier tells two domains apart."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks

__all__ = ["proxy_a_distance"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _mask(mask: ArrayLike | None, x: jax.Array, name: str, x_name: str) -> jax.Array:
    if mask is None:
        return jnp.ones(x.shape[0], dtype=bool)
    _checks.check_rank(mask, name, 1)
    if np.shape(mask)[0] != x.shape[0]:
        raise ValueError(
            f"`{name}` must have one entry per row of `{x_name}`, got shapes "
            f"{tuple(np.shape(mask))} and {tuple(x.shape)}."
        )
    dtype = jnp.result_type(mask)
    if not (jnp.issubdtype(dtype, jnp.bool_) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"`{name}` must hold booleans (or 0/1 integers), got dtype {dtype}.")
    return jnp.asarray(mask).astype(bool)


def _rank_split(u: jax.Array, valid: jax.Array, train_fraction: float):
    rank = jnp.argsort(jnp.argsort(jnp.where(valid, u, 2.0)))
    count = jnp.sum(valid)
    n_train = jnp.clip(jnp.floor(count * train_fraction).astype(count.dtype), 1, count - 1)
    return valid & (rank < n_train), valid & (rank >= n_train)


def split_masks(
    key: jax.Array, source_valid: jax.Array, target_valid: jax.Array, train_fraction: float
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Random train/test split of the valid rows of each domain, static shapes.

    In each domain, of its ``k`` valid rows ``clip(floor(k · train_fraction), 1, k - 1)``,
    chosen uniformly at random by ``key`` (one uniform draw per row of both
    domains together), are for training and the rest for testing. Invalid rows
    are in neither.

    Returns:
      ``(source_train, source_test, target_train, target_test)``, boolean masks.
    """
    n = source_valid.shape[0]
    u = jax.random.uniform(key, (n + target_valid.shape[0],))
    train_s, test_s = _rank_split(u[:n], source_valid, train_fraction)
    train_t, test_t = _rank_split(u[n:], target_valid, train_fraction)
    return train_s, test_s, train_t, test_t


def _spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(a), b)


def _balanced_ridge_scores(
    x: jax.Array, y: jax.Array, weights: jax.Array, reg: jax.Array
) -> jax.Array:
    """Fits weighted ridge regression on ±1 labels; returns scores of every row.

    Features are centred and scaled with the weighted statistics of the training
    rows (``weights > 0``). The weights put the same total mass on each domain,
    so the centred design has a zero intercept and none is fitted.
    """
    total = jnp.sum(weights)
    mean = jnp.sum(weights[:, None] * x, axis=0) / total
    centred = x - mean
    var = jnp.sum(weights[:, None] * centred * centred, axis=0) / total
    positive = var > 0
    scale = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, var, 1.0)), 1.0)
    z = centred * scale
    n, d = z.shape
    if d <= n:
        a = jnp.matmul(z.T, weights[:, None] * z, precision=_HIGHEST) + reg * jnp.eye(d)
        rhs = jnp.matmul(z.T, weights * y, precision=_HIGHEST)
        theta = _spd_solve(a, rhs)
    else:
        # (Zᵀ W Z + λ I)⁻¹ Zᵀ W y = Zᵀ W^½ (W^½ Z Zᵀ W^½ + λ I)⁻¹ W^½ y: an n x n solve.
        root = jnp.sqrt(weights)
        zw = root[:, None] * z
        k = jnp.matmul(zw, zw.T, precision=_HIGHEST) + reg * jnp.eye(n)
        alpha = _spd_solve(k, root * y)
        theta = jnp.matmul(zw.T, alpha, precision=_HIGHEST)
    return jnp.matmul(z, theta, precision=_HIGHEST)


def _proxy_a_distance(
    source: jax.Array,
    target: jax.Array,
    source_valid: jax.Array,
    target_valid: jax.Array,
    key: jax.Array,
    train_fraction: float,
    reg: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Unchecked core: returns ``(distance, balanced test error)``."""
    train_s, test_s, train_t, test_t = split_masks(key, source_valid, target_valid, train_fraction)
    dtype = source.dtype
    n_train_s = jnp.maximum(jnp.sum(train_s), 1).astype(dtype)
    n_train_t = jnp.maximum(jnp.sum(train_t), 1).astype(dtype)
    weights = jnp.concatenate([train_s / n_train_s, train_t / n_train_t]).astype(dtype)
    x = jnp.concatenate([source, target], axis=0)
    # Masked-out rows may hold anything; zero them so they cannot reach the fit.
    x = jnp.where(jnp.concatenate([source_valid, target_valid])[:, None], x, 0.0)
    y = jnp.concatenate([jnp.ones(source.shape[0], dtype), -jnp.ones(target.shape[0], dtype)])
    scores = _balanced_ridge_scores(x, y, weights, reg)
    n = source.shape[0]
    wrong_s = jnp.sum(test_s & (scores[:n] <= 0)) / jnp.maximum(jnp.sum(test_s), 1)
    wrong_t = jnp.sum(test_t & (scores[n:] > 0)) / jnp.maximum(jnp.sum(test_t), 1)
    error = 0.5 * (wrong_s + wrong_t).astype(dtype)
    return jnp.maximum(2.0 * (1.0 - 2.0 * error), 0.0), error


def proxy_a_distance(
    source: ArrayLike,
    target: ArrayLike,
    *,
    key: jax.Array,
    train_fraction: float = 0.5,
    reg: float | jax.Array = 1e-3,
    source_mask: ArrayLike | None = None,
    target_mask: ArrayLike | None = None,
) -> jax.Array:
    r"""Proxy A-distance between two feature sets, from a held-out linear classifier.

    .. math::

       \hat d_A = \max\bigl(0,\ 2\,(1 - 2\varepsilon)\bigr) \in [0, 2],

    where :math:`\varepsilon` is the held-out error of a linear classifier trained
    to tell source (label +1) from target (label -1). Exactly what is computed:

    1. **Split.** In each domain, ``floor(k · train_fraction)`` of its ``k``
       valid rows (at least 1, at most ``k - 1``), drawn at random with ``key``,
       train the classifier; the other valid rows test it.
    2. **Fit.** Features are standardised with the training rows' weighted mean
       and standard deviation. The classifier is ridge regression on the ±1
       labels, closed form,
       :math:`\theta = (Z^\top W Z + \lambda I)^{-1} Z^\top W y`, with sample
       weights :math:`W` that give each domain total weight 1 (so unequal
       domain sizes do not bias it, and the intercept is exactly 0). The
       :math:`d \times d` or :math:`N \times N` form is solved, whichever is smaller.
    3. **Error.** :math:`\varepsilon` is the *balanced* test error, the mean of
       the two domains' test error rates (a score of exactly 0 counts as target).

    A classifier worse than chance (:math:`\varepsilon > 1/2`) says nothing more
    than chance, so the distance is clipped at 0 (MEDA clips the same way, on
    its balance factor); identical distributions give values near 0, perfectly
    separable ones 2.

    Everything has static shapes, so the function is ``jit``- and ``vmap``-able;
    ``source_mask``/``target_mask`` restrict it to a subset of rows (e.g. one
    class) without changing shapes. The inputs are read under
    ``stop_gradient``: the result is piecewise constant and its gradient is 0.

    Args:
      source: ``[n, d]``.
      target: ``[m, d]``.
      key: a JAX random key for the split.
      train_fraction: share of each domain's valid rows used for training.
      reg: ridge penalty :math:`\lambda > 0` (on standardised features).
      source_mask: optional boolean ``[n]``; ``False`` rows are ignored.
      target_mask: optional boolean ``[m]``.

    Returns:
      Scalar in ``[0, 2]``. Each domain needs at least 2 valid rows (one to
      train, one to test); with fewer the value is meaningless (it is
      computed, not checked, when masks are traced).

    Raises:
      ValueError: bad shapes, fewer than 2 rows on a side, ``train_fraction``
        outside (0, 1), or NaN/inf in concrete features.
      TypeError: integer features or a non-boolean mask.

    Examples:
      >>> import jax
      >>> xs = jax.random.normal(jax.random.key(0), (100, 2))
      >>> pad = jax.jit(proxy_a_distance)
      >>> round(float(pad(xs, xs + 10.0, key=jax.random.key(1))), 4)
      2.0

    References:
      Ben-David et al., "Analysis of Representations for Domain Adaptation",
      NeurIPS 2006. Ganin et al., "Domain-Adversarial Training of Neural
      Networks", JMLR 2016 (the proxy A-distance as used in domain adaptation).
    """
    s, t = _checks.feature_pair(source, target)
    why = "a held-out split (one row to train, one to test)"
    _checks.check_min_samples(s, "source", 2, why)
    _checks.check_min_samples(t, "target", 2, why)
    if not 0.0 < float(train_fraction) < 1.0:
        raise ValueError(f"`train_fraction` must lie in (0, 1), got {train_fraction}")
    if _checks.is_concrete(reg) and not float(reg) > 0.0:
        raise ValueError(f"`reg` must be positive, got {reg}")
    sm = _mask(source_mask, s, "source_mask", "source")
    tm = _mask(target_mask, t, "target_mask", "target")
    dtype = jnp.promote_types(s.dtype, t.dtype)
    s = jax.lax.stop_gradient(s.astype(dtype))
    t = jax.lax.stop_gradient(t.astype(dtype))
    reg = jax.lax.stop_gradient(jnp.asarray(reg, dtype))
    distance, _ = _proxy_a_distance(s, t, sm, tm, key, float(train_fraction), reg)
    return distance
