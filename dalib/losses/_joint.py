r"""Joint (marginal + conditional) alignment with an A-distance balance factor (MEDA, DJDA)."""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from dalib import _checks
from dalib.kernels import Kernel
from dalib.losses._mmd import mmd
from dalib.losses._mmd_joint import lmmd
from dalib.stats._a_distance import _proxy_a_distance

__all__ = ["dynamic_factor", "joint_alignment"]


def joint_alignment(
    source: ArrayLike,
    target: ArrayLike,
    source_labels: ArrayLike,
    target_probs: ArrayLike,
    *,
    num_classes: int,
    kernel: Kernel,
    factor: float | jax.Array,
    estimator: str = "biased",
) -> jax.Array:
    r"""Balanced joint distribution alignment: marginal MMD plus class-conditional LMMD.

    .. math::

       \mathcal{L} = (1-\mu)\,\mathrm{MMD}^2(X_s, X_t)
       + \mu\,\mathrm{LMMD}(X_s, X_t, y_s, P_t),

    with :func:`~dalib.losses.mmd` (``estimator``) and :func:`~dalib.losses.lmmd`
    on the same kernel. :math:`\mu =` ``factor`` in :math:`[0, 1]` weighs the
    conditional term; :func:`dynamic_factor` estimates it from the data (MEDA,
    DJDA), and a fixed 0.5 gives equal weights. ``factor`` may be a traced value
    (e.g. computed inside the same ``jit``); it is used as given, so pass it
    through ``stop_gradient`` if it depends on the features (``dynamic_factor``
    already does).

    Args:
      source: ``[n, d]`` source features.
      target: ``[m, d]`` target features.
      source_labels: integer ``[n]`` in ``[0, num_classes)``.
      target_probs: ``[m, num_classes]`` target class probabilities (no gradient
        flows into them inside LMMD).
      num_classes: ``C`` (static).
      kernel: a :mod:`dalib.kernels` kernel, resolved on source and target together.
      factor: :math:`\mu`, a scalar in ``[0, 1]`` (checked when concrete).
      estimator: the marginal MMD estimator (``"biased"``, ``"unbiased"``, ...).

    Returns:
      Scalar loss.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from dalib.kernels import Gaussian
      >>> xs = jax.random.normal(jax.random.key(0), (6, 3))
      >>> xt = jax.random.normal(jax.random.key(1), (5, 3)) + 1.0
      >>> ys = jnp.array([0, 0, 1, 1, 2, 2])
      >>> pt = jax.nn.softmax(jax.random.normal(jax.random.key(2), (5, 3)))
      >>> loss = joint_alignment(xs, xt, ys, pt, num_classes=3,
      ...                        kernel=Gaussian(bandwidth=1.0), factor=0.5)
      >>> bool(loss > 0)
      True

    References:
      Wang et al., "Visual Domain Adaptation with Manifold Embedded
      Distribution Alignment" (MEDA), ACM MM 2018. Zhu et al., "Deep Subdomain
      Adaptation Network for Image Classification", IEEE TNNLS 2021 (LMMD).
    """
    _checks.check_rank(factor, "factor", 0)
    if _checks.is_concrete(factor):
        value = float(factor)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"`factor` must lie in [0, 1], got {value}")
    marginal = mmd(source, target, kernel=kernel, estimator=estimator)
    conditional = lmmd(
        source, target, source_labels, target_probs, num_classes=num_classes, kernel=kernel
    )
    mu = jnp.asarray(factor, marginal.dtype)
    return (1.0 - mu) * marginal + mu * conditional


def dynamic_factor(
    source: ArrayLike,
    target: ArrayLike,
    source_labels: ArrayLike,
    target_probs: ArrayLike,
    *,
    num_classes: int,
    key: jax.Array,
    min_samples: int = 4,
    train_fraction: float = 0.5,
    reg: float | jax.Array = 1e-3,
) -> jax.Array:
    r"""Dynamic balance factor between marginal and conditional alignment (MEDA/DJDA).

    .. math::

       \mu = \operatorname{clip}_{[0,1]}\!\left(
       \frac{\bar d_c}{\bar d_c + d_M}\right),
       \qquad \bar d_c = \frac{1}{|V|}\sum_{c \in V} d_c,

    where each :math:`d` is a :func:`~dalib.stats.proxy_a_distance`
    (:math:`\max(0, 2(1-2\varepsilon))`, held-out balanced error of a ridge
    classifier; see there): :math:`d_M` between all source and all target rows,
    :math:`d_c` between the source rows labelled :math:`c` and the target rows
    pseudo-labelled :math:`c` (:math:`\hat y = \arg\max` ``target_probs``).
    A large :math:`\mu` says the class-conditional distributions differ more
    than the marginals, so the conditional term should weigh more.

    * :math:`V` holds the classes with at least ``min_samples`` rows on *both*
      sides; the others are skipped (their split would be too small to measure
      anything). Per-class values use boolean masks, so shapes stay static.
    * If no class is in :math:`V`, :math:`\mu = 0` (marginal alignment only: the
      pseudo-labels give no usable class-conditional estimate).
    * If :math:`\bar d_c + d_M = 0` (no split tells the domains apart),
      :math:`\mu = 0.5`.

    ``key`` is split into one key for the global distance and one per class.
    The result is returned under ``stop_gradient``.

    Args:
      source: ``[n, d]`` source features (at least 2 rows).
      target: ``[m, d]`` target features (at least 2 rows).
      source_labels: integer ``[n]`` in ``[0, num_classes)``.
      target_probs: ``[m, num_classes]`` class probabilities or scores.
      num_classes: ``C`` (static).
      key: a JAX random key.
      min_samples: smallest class size (per side) for :math:`d_c`; at least 2.
      train_fraction: passed to the proxy A-distance split.
      reg: ridge penalty of the domain classifier.

    Returns:
      Scalar :math:`\mu \in [0, 1]`, without gradient.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> k1, k2 = jax.random.split(jax.random.key(0))
      >>> xs = jax.random.normal(k1, (40, 2))
      >>> ys = (xs[:, 0] > 0).astype(jnp.int32)
      >>> pt = jax.nn.one_hot(1 - ys, 2)  # target classes swapped: same marginal
      >>> factor = jax.jit(dynamic_factor, static_argnames="num_classes")
      >>> mu = factor(xs, xs, ys, pt, num_classes=2, key=k2)
      >>> bool(mu > 0.9)
      True

    References:
      Wang et al., "Visual Domain Adaptation with Manifold Embedded
      Distribution Alignment" (MEDA), ACM MM 2018. Ben-David et al., "Analysis
      of Representations for Domain Adaptation", NeurIPS 2006.
    """
    s, t = _checks.feature_pair(source, target)
    why = "the global proxy A-distance (one row to train, one to test)"
    _checks.check_min_samples(s, "source", 2, why)
    _checks.check_min_samples(t, "target", 2, why)
    try:
        num_classes = operator.index(num_classes)
        min_samples = operator.index(min_samples)
    except TypeError:
        raise TypeError(
            f"`num_classes` and `min_samples` must be integers, got {num_classes!r} and "
            f"{min_samples!r}"
        ) from None
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1, got {num_classes}")
    if min_samples < 2:
        raise ValueError(
            f"`min_samples` must be >= 2 (one row to train, one to test), got {min_samples}"
        )
    if not 0.0 < float(train_fraction) < 1.0:
        raise ValueError(f"`train_fraction` must lie in (0, 1), got {train_fraction}")
    if _checks.is_concrete(reg) and not float(reg) > 0.0:
        raise ValueError(f"`reg` must be positive, got {reg}")
    ys = _checks.labels(source_labels, "source_labels", num_classes=num_classes)
    _checks.check_leading(ys, s, "source_labels", "source")
    p = _checks.probs(target_probs, "target_probs", num_classes=num_classes)
    _checks.check_leading(p, t, "target_probs", "target")

    dtype = jnp.promote_types(s.dtype, t.dtype)
    s = jax.lax.stop_gradient(s.astype(dtype))
    t = jax.lax.stop_gradient(t.astype(dtype))
    reg = jax.lax.stop_gradient(jnp.asarray(reg, dtype))
    yt = jnp.argmax(jax.lax.stop_gradient(p), axis=-1)
    fraction = float(train_fraction)

    key_global, key_class = jax.random.split(key)
    all_s = jnp.ones(s.shape[0], bool)
    all_t = jnp.ones(t.shape[0], bool)
    d_marginal, _ = _proxy_a_distance(s, t, all_s, all_t, key_global, fraction, reg)

    def per_class(c, k):
        in_s = ys == c
        in_t = yt == c
        valid = (jnp.sum(in_s) >= min_samples) & (jnp.sum(in_t) >= min_samples)
        d, _ = _proxy_a_distance(s, t, in_s, in_t, k, fraction, reg)
        return d, valid

    keys = jax.random.split(key_class, num_classes)
    d_class, valid = jax.vmap(per_class)(jnp.arange(num_classes), keys)
    n_valid = jnp.sum(valid)
    mean_class = jnp.sum(jnp.where(valid, d_class, 0.0)) / jnp.maximum(n_valid, 1)
    denom = mean_class + d_marginal
    mu = jnp.where(denom > 0, mean_class / jnp.where(denom > 0, denom, 1.0), 0.5)
    mu = jnp.where(n_valid > 0, mu, 0.0)
    return jax.lax.stop_gradient(jnp.clip(mu, 0.0, 1.0))
