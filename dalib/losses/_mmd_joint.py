"""JMMD and LMMD: the joint and the local (class-conditional) members of the MMD family.

Built on the estimators of :mod:`dalib.losses._mmd`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks
from dalib.kernels import Kernel, Linear, _prepare
from dalib.losses._mmd import _HIGHEST, ESTIMATORS, _check_median_free, _estimate

__all__ = ["jmmd", "lmmd"]


def _layers(values: Sequence[ArrayLike], name: str) -> list[ArrayLike]:
    if isinstance(values, (jax.Array, np.ndarray)) or not isinstance(values, Sequence):
        raise TypeError(
            f"`{name}` must be a sequence (list or tuple) of [n, d_l] arrays, one per layer, "
            f"got {type(values).__name__} of shape {np.shape(values)}; wrap a single "
            f"layer as `[{name[:-1]}]`."
        )
    if len(values) == 0:
        raise ValueError(f"`{name}` must hold at least one layer, got an empty sequence.")
    return list(values)


def jmmd(
    sources: Sequence[ArrayLike],
    targets: Sequence[ArrayLike],
    *,
    kernels: Kernel | Sequence[Kernel],
    estimator: str = "biased",
    source_weights: ArrayLike | None = None,
    target_weights: ArrayLike | None = None,
    block_size: int | None = None,
) -> jax.Array:
    r"""Joint MMD of JAN: MMD under the product of per-layer kernels.

    Layer :math:`l` has source activations :math:`Z^{sl}\ [n, d_l]` and target
    activations :math:`Z^{tl}\ [m, d_l]`; the joint kernel between samples
    :math:`i` and :math:`j` is

    .. math::

       k(z_i, z_j) = \prod_{l} k^{l}(z^{l}_i, z^{l}_j),

    i.e. the Gram matrices are elementwise products of per-layer Gram matrices,
    and the estimators, weights and ``block_size`` are those of :func:`mmd`. Each
    layer's kernel is resolved on that layer's source and target.

    TLlib's JAN uses ``kernels=(MultiGaussian.dan(), Gaussian(bandwidth=0.92))`` on
    (features, softmax outputs) with ``estimator="unbiased"`` (its default
    ``linear=False``) or ``"linear_cyclic"`` (``linear=True``), plus a constant
    :math:`2/(b-1)` that we leave out.

    Args:
      sources: sequence of ``[n, d_l]`` source activations, one per layer.
      targets: sequence of ``[m, d_l]`` target activations, same layers.
      kernels: one kernel per layer, or a single kernel used for every layer.
      estimator: ``"biased"``, ``"unbiased"``, ``"linear"`` or ``"linear_cyclic"``.
      source_weights: optional ``[n]`` sample weights (see :func:`mmd`).
      target_weights: optional ``[m]`` sample weights.
      block_size: optional tile size (see :func:`mmd`).

    Returns:
      Scalar estimate of the squared joint MMD.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from dalib.kernels import Gaussian, MultiGaussian
      >>> f_s = jax.random.normal(jax.random.key(0), (8, 4))
      >>> f_t = jax.random.normal(jax.random.key(1), (6, 4)) + 1.0
      >>> p_s = jax.nn.softmax(f_s[:, :3])
      >>> p_t = jax.nn.softmax(f_t[:, :3])
      >>> loss = jmmd([f_s, p_s], [f_t, p_t],
      ...             kernels=[MultiGaussian.dan(), Gaussian(bandwidth=0.92)])
      >>> bool(loss > 0)
      True

    References:
      Long et al., "Deep Transfer Learning with Joint Adaptation Networks",
      ICML 2017.
    """
    sources = _layers(sources, "sources")
    targets = _layers(targets, "targets")
    if len(sources) != len(targets):
        raise ValueError(
            f"`sources` and `targets` must have the same number of layers, got "
            f"{len(sources)} and {len(targets)}."
        )
    xs, ys = [], []
    for l, (s, t) in enumerate(zip(sources, targets, strict=True)):
        s, t = _checks.feature_pair(s, t, (f"sources[{l}]", f"targets[{l}]"))
        if l and s.shape[0] != xs[0].shape[0]:
            raise ValueError(
                f"every layer of `sources` must have the same number of samples, got shapes "
                f"{xs[0].shape} (sources[0]) and {s.shape} (sources[{l}])."
            )
        if l and t.shape[0] != ys[0].shape[0]:
            raise ValueError(
                f"every layer of `targets` must have the same number of samples, got shapes "
                f"{ys[0].shape} (targets[0]) and {t.shape} (targets[{l}])."
            )
        xs.append(s)
        ys.append(t)
    _checks.check_choice(estimator, "estimator", ESTIMATORS)
    if isinstance(kernels, Kernel):
        kernels = [kernels] * len(xs)
    elif isinstance(kernels, Sequence) and not isinstance(kernels, str):
        kernels = list(kernels)
        if len(kernels) != len(xs):
            raise ValueError(
                f"`kernels` must give one kernel per layer ({len(xs)}), got {len(kernels)}."
            )
    else:
        raise TypeError(
            f"`kernels` must be a Kernel or a sequence of kernels, got {type(kernels).__name__}."
        )
    kernels = [_checks.check_kernel(k, f"kernels[{l}]") for l, k in enumerate(kernels)]
    if block_size is not None:
        for l, k in enumerate(kernels):
            _check_median_free(k, f"kernels[{l}]")
    return _estimate(
        kernels,
        xs,
        ys,
        estimator=estimator,
        source_weights=source_weights,
        target_weights=target_weights,
        block_size=block_size,
        names=("sources[0]", "targets[0]"),
    )


def lmmd(
    source: ArrayLike,
    target: ArrayLike,
    source_labels: ArrayLike,
    target_probs: ArrayLike,
    *,
    num_classes: int,
    kernel: Kernel,
) -> jax.Array:
    r"""Local (class-conditional) MMD of DSAN.

    Class weights from source labels and target soft predictions
    (:math:`P_t` under ``stop_gradient``):

    .. math::

       W_s = \frac{\operatorname{onehot}(y_s)}{\mathbf 1^\top \operatorname{onehot}(y_s)},
       \qquad
       W_t = \frac{P_t}{\mathbf 1^\top P_t}
       \quad\text{(column-normalised, } [n, C] \text{ and } [m, C]),

    keeping only the :math:`k` classes present both in :math:`y_s` and in
    :math:`\arg\max P_t` (the other columns are zeroed), then

    .. math::

       \mathcal{L} = \frac{1}{k}\sum_{c\ \text{kept}}
       \left(w^{s\top}_c K_{ss} w^s_c + w^{t\top}_c K_{tt} w^t_c
       - 2\, w^{s\top}_c K_{st} w^t_c\right)
       = \sum_{ij} \left(W_{ss}\circ K_{ss} + W_{tt}\circ K_{tt}
       - 2 W_{st}\circ K_{st}\right)_{ij},

    with :math:`W_{ss} = W_s W_s^\top / k` etc.: the mean over shared classes of a
    weighted biased MMD between the class-:math:`c` parts of the two domains. The
    loss is 0 when :math:`k = 0`. A column sum of 0 (a class with no mass) is
    guarded against division by zero; such a class is never kept anyway.
    Written with masks, so it runs under ``jit`` and ``vmap``.

    ``kernel=MultiGaussian.dsan()`` with the target softmax as ``target_probs``
    reproduces DeepDA's ``LMMDLoss`` (before its warm-up factor, and without its
    "return 0 if the kernel has a NaN" guard); unlike DeepDA, ``n != m`` works.

    Args:
      source: ``[n, d]`` source features.
      target: ``[m, d]`` target features.
      source_labels: ``[n]`` integer labels in ``[0, num_classes)``.
      target_probs: ``[m, num_classes]`` target class probabilities (softmax);
        no gradient flows into them.
      num_classes: number of classes ``C`` (static).
      kernel: a :mod:`dalib.kernels` kernel, resolved on source and target together.

    Returns:
      Scalar loss.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from dalib.kernels import MultiGaussian
      >>> xs = jax.random.normal(jax.random.key(0), (6, 3))
      >>> xt = jax.random.normal(jax.random.key(1), (5, 3)) + 1.0
      >>> ys = jnp.array([0, 0, 1, 1, 2, 2])
      >>> pt = jax.nn.softmax(jax.random.normal(jax.random.key(2), (5, 3)))
      >>> loss = lmmd(xs, xt, ys, pt, num_classes=3, kernel=MultiGaussian.dsan())
      >>> bool(loss > 0)
      True

    References:
      Zhu et al., "Deep Subdomain Adaptation Network for Image Classification",
      IEEE TNNLS 32(4), 2021.
    """
    source, target = _checks.feature_pair(source, target)
    num_classes = _checks.check_positive_int(num_classes, "num_classes")
    labels = _checks.labels(source_labels, "source_labels", num_classes=num_classes)
    _checks.check_leading(labels, source, "source_labels", "source")
    probs = _checks.probs(target_probs, "target_probs", num_classes=num_classes)
    _checks.check_probability_values(probs, "target_probs")
    _checks.check_leading(probs, target, "target_probs", "target")
    kernel = _checks.check_kernel(kernel, "kernel")

    return _lmmd(kernel, source, target, labels, probs, num_classes=int(num_classes))


@functools.partial(jax.jit, static_argnames=("num_classes",))
def _lmmd(kernel, source, target, labels, probs, *, num_classes: int) -> jax.Array:
    dtype = jnp.result_type(source, target)
    source, target = source.astype(dtype), target.astype(dtype)
    probs = jax.lax.stop_gradient(probs.astype(dtype))
    # Column-normalised weights: the value is translation invariant for the
    # shift-invariant kernels and for the linear kernel, so centring is free.
    centre = kernel.shift_invariant or isinstance(kernel, Linear)
    kernel, source, target = _prepare(kernel, source, target, centre=centre)

    onehot = jax.nn.one_hot(labels, num_classes, dtype=dtype)
    s_mass = jnp.sum(onehot, axis=0)
    t_mass = jnp.sum(probs, axis=0)
    ws = onehot / jnp.where(s_mass > 0, s_mass, 1.0)
    wt = probs / jnp.where(t_mass > 0, t_mass, 1.0)
    predicted = jax.nn.one_hot(jnp.argmax(probs, axis=1), num_classes, dtype=dtype)
    keep = (s_mass > 0) & (jnp.sum(predicted, axis=0) > 0)
    ws = jnp.where(keep, ws, 0.0)
    wt = jnp.where(keep, wt, 0.0)
    count = jnp.sum(keep)

    # sum_c (w^s_c; -w^t_c)^T K (w^s_c; -w^t_c) with K the pooled Gram matrix.
    pooled = jnp.concatenate([source, target])
    v = jnp.concatenate([ws, -wt])
    total = jnp.sum(v * jnp.dot(kernel(pooled, pooled), v, precision=_HIGHEST))
    return jnp.where(count > 0, total / jnp.maximum(count, 1).astype(dtype), 0.0)
