r"""Moment-matching losses: CORAL (second-order statistics) and CMD (central moments)."""

from __future__ import annotations

import operator
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks

__all__ = ["cmd", "coral"]

CoralVariant = Literal["deep_coral", "mean_cov"]
_CORAL_VARIANTS = ("deep_coral", "mean_cov")


def _covariance(x: jax.Array) -> jax.Array:
    """Unbiased covariance ``[d, d]`` of the rows of ``x [n, d]`` (divides by n - 1)."""
    centred = x - jnp.mean(x, axis=0)
    gram = jnp.matmul(centred.T, centred, precision=jax.lax.Precision.HIGHEST)
    return gram / (x.shape[0] - 1)


def coral(
    source: ArrayLike, target: ArrayLike, *, variant: CoralVariant = "deep_coral"
) -> jax.Array:
    r"""Correlation alignment (CORAL): distance between feature covariances.

    With unbiased covariances
    :math:`C = \frac{1}{n-1}(X - \bar x)^\top (X - \bar x)` of source and target:

    .. math::

       \text{deep\_coral}: \quad \frac{\|C_s - C_t\|_F^2}{4 d^2}, \qquad
       \text{mean\_cov}: \quad \frac{1}{d}\|\bar x_s - \bar x_t\|^2
       + \frac{1}{d^2}\|C_s - C_t\|_F^2 .

    ``"deep_coral"`` is the loss of Sun & Saenko (2016); ``"mean_cov"`` also
    matches the means and averages both terms over their entries (the
    Transfer-Learning-Library form). Both are non-negative, symmetric in source
    and target, and zero for identical sets.

    Non-finite inputs raise on concrete arrays; under ``jit`` they give NaN.

    Args:
      source: source features ``[n, d]``, ``n >= 2``.
      target: target features ``[m, d]``, ``m >= 2``; ``m != n`` is fine.
      variant: ``"deep_coral"`` or ``"mean_cov"``.

    Returns:
      Scalar loss.

    Raises:
      ValueError: bad shapes, fewer than 2 samples on a side (an unbiased
        covariance needs 2), an unknown ``variant``, or NaN/inf in concrete inputs.
      TypeError: integer or boolean features.

    Examples:
      >>> import jax
      >>> xs = jax.random.normal(jax.random.key(0), (64, 3))
      >>> round(float(coral(xs, xs)), 4)
      0.0
      >>> round(float(coral(xs, 2.0 * xs)), 4) > 0.0
      True

    References:
      Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain
      Adaptation", ECCV Workshops 2016.
    """
    if variant not in _CORAL_VARIANTS:
        raise ValueError(f"unknown CORAL variant {variant!r}; choose one of {_CORAL_VARIANTS}")
    s, t = _checks.feature_pair(source, target)
    why = "an unbiased covariance (divides by n - 1)"
    _checks.check_min_samples(s, "source", 2, why)
    _checks.check_min_samples(t, "target", 2, why)
    d = s.shape[1]
    cov_diff = _covariance(s) - _covariance(t)
    if variant == "deep_coral":
        return jnp.sum(cov_diff * cov_diff) / (4.0 * d * d)
    mean_diff = jnp.mean(s, axis=0) - jnp.mean(t, axis=0)
    return jnp.mean(mean_diff * mean_diff) + jnp.mean(cov_diff * cov_diff)


def _safe_norm(v: jax.Array) -> jax.Array:
    # The Euclidean norm has no derivative at 0 (NaN through sqrt); route zeros
    # around it so that identical sets get a 0 gradient (a valid subgradient).
    sq = jnp.sum(v * v)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def cmd(
    source: ArrayLike,
    target: ArrayLike,
    *,
    moments: int = 5,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> jax.Array:
    r"""Central moment discrepancy (CMD) between two feature sets.

    For features bounded in :math:`[a, b]^d`, with empirical means
    :math:`\bar x` and central moments
    :math:`c_k(X) = \frac{1}{n}\sum_i (x_i - \bar x)^{k}` (element-wise powers):

    .. math::

       \mathrm{CMD}_K = \frac{\|\bar x_s - \bar x_t\|_2}{|b-a|}
       + \sum_{k=2}^{K} \frac{\|c_k(X_s) - c_k(X_t)\|_2}{|b-a|^k}.

    The moments are plain (population, ``1/n``) averages, as in the paper. The
    default bounds ``(0, 1)`` (sigmoid features) give the unscaled sum used in
    the authors' code. The norm is not differentiable at 0; there its gradient
    is taken as 0, so identical sets get a finite (zero) gradient.

    Args:
      source: ``[n, d]``.
      target: ``[m, d]``.
      moments: the highest order :math:`K \ge 1`.
      bounds: ``(a, b)`` with ``a < b``, the interval holding every feature.

    Returns:
      Scalar, non-negative, symmetric, zero for identical sets.

    Raises:
      ValueError: bad shapes, empty sets, ``moments < 1``, ``a == b``, or
        NaN/inf in concrete inputs.
      TypeError: integer features or a non-integer ``moments``.

    Examples:
      >>> import jax.numpy as jnp
      >>> xs = jnp.array([[0.0], [1.0]])
      >>> round(float(cmd(xs, xs + 0.5, bounds=(0.0, 2.0))), 4)
      0.25

    References:
      Zellinger et al., "Central Moment Discrepancy (CMD) for Domain-Invariant
      Representation Learning", ICLR 2017.
    """
    try:
        moments = operator.index(moments)
    except TypeError:
        raise TypeError(
            f"`moments` must be an integer, got {moments!r} ({type(moments).__name__})"
        ) from None
    if moments < 1:
        raise ValueError(f"`moments` must be >= 1, got {moments}")
    if np.shape(bounds) != (2,):
        raise ValueError(f"`bounds` must be a pair (a, b), got {bounds!r}")
    a, b = (float(v) for v in bounds)
    span = b - a
    if not np.isfinite(span) or span == 0.0:
        raise ValueError(f"`bounds` must be two different finite numbers, got {bounds!r}")
    if span < 0:
        raise ValueError(
            f"`bounds` must be (low, high) with low < high, got {bounds!r}; "
            f"pass ({b:g}, {a:g})."
        )
    s, t = _checks.feature_pair(source, target)
    mean_s = jnp.mean(s, axis=0)
    mean_t = jnp.mean(t, axis=0)
    total = _safe_norm(mean_s - mean_t) / span
    centred_s = s - mean_s
    centred_t = t - mean_t
    for k in range(2, moments + 1):
        diff = jnp.mean(centred_s**k, axis=0) - jnp.mean(centred_t**k, axis=0)
        total = total + _safe_norm(diff) / span**k
    return total
