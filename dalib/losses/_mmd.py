r"""Maximum mean discrepancy losses: MMD, joint MMD (JAN) and local MMD (DSAN).

All three are quadratic forms of kernel Gram matrices. With normalised sample
weights :math:`p \in \Delta^{n}` (source) and :math:`q \in \Delta^{m}` (target),

.. math::

   \widehat{\mathrm{MMD}}^2 = p^\top K_{ss}\, p + q^\top K_{tt}\, q - 2\, p^\top K_{st}\, q,

with :math:`K_{ss} = k(X_s, X_s)`, :math:`K_{tt} = k(X_t, X_t)`,
:math:`K_{st} = k(X_s, X_t)`. Uniform weights give the textbook estimators.

Each kernel is resolved once per call, on source and target together
(``kernel.resolve(source, target)``), so every Gram block uses the same
bandwidth; data-driven bandwidths carry no gradient.

Which settings reproduce which reference code:

* **DAN** (Long et al. 2015) as in the Transfer-Learning-Library (TLlib,
  ``MultipleKernelMaximumMeanDiscrepancy`` with ``GaussianKernel(alpha=2**k)``,
  ``k = -3..1``): ``mmd(s, t, kernel=MultiGaussian.dan(), estimator="unbiased")``
  for TLlib's ``linear=False``, ``estimator="linear_cyclic"`` for its
  ``linear=True`` (the default of TLlib's DAN script). TLlib adds the constant
  :math:`2/(b-1)` to its estimate "to keep the loss positive"; we do not (it does
  not change gradients, and an unbiased estimate must be allowed to be negative).
  TLlib also needs equal batch sizes; here ``n != m`` works.
* **JAN** (Long et al. 2017) as in TLlib:
  ``jmmd((f_s, p_s), (f_t, p_t), kernels=(MultiGaussian.dan(), Gaussian(bandwidth=0.92)),
  estimator="unbiased")`` (``"linear_cyclic"`` for TLlib's ``linear=True``), again
  without the :math:`2/(b-1)` constant.
* **DSAN** (Zhu et al. 2020) as in DeepDA (``LMMDLoss``):
  ``lmmd(s, t, ys, pt, num_classes=C, kernel=MultiGaussian.dsan())``, where ``pt`` is
  the target softmax. DeepDA multiplies the loss by a warm-up factor
  :math:`2/(1+e^{-\gamma p})-1` inside the loss object; here that schedule is the
  caller's (``dalib.ops.dann_schedule``). DeepDA's plain ``MMDLoss`` is
  ``mmd(s, t, kernel=MultiGaussian.dsan(), estimator="biased")``.
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
from dalib.losses import _mmd_pooled

__all__ = ["ESTIMATORS", "mmd"]

ESTIMATORS = ("biased", "unbiased", "linear", "linear_cyclic")

_HIGHEST = jax.lax.Precision.HIGHEST

# The dense estimates of built-in distance kernels go through `_mmd_pooled` (one
# GEMM per layer, custom derivative). False selects the plain autodiff path over
# three Gram blocks, kept as the reference the tests compare the fast path with.
_USE_POOLED = True


# ----------------------------------------------------------------------------- checks


def _check_block_size(block_size: int | None) -> int | None:
    if block_size is None:
        return None
    return _checks.check_positive_int(block_size, "block_size")


def _check_weight_values(w: jax.Array | None, name: str, unbiased: bool) -> None:
    """Value checks on concrete weights: non-negative, positive total mass."""
    if w is not None:
        # The unbiased estimator divides by sum_{i != j} p_i p_j: 2+ positive weights.
        _checks.check_weight_values(w, name, min_positive=2 if unbiased else 1)


def _check_median_free(kernel: Kernel, name: str) -> None:
    bandwidth = getattr(kernel, "bandwidth", None)
    if isinstance(bandwidth, str) and bandwidth == "median":
        raise ValueError(
            f"`{name}` uses the 'median' bandwidth rule, which needs all O(N^2) pairwise "
            "distances and so defeats `block_size`. Fix the bandwidth instead: compute it "
            "once (e.g. `kernel.resolve(source[:2000], target[:2000])` on a subsample) and "
            "pass the resolved kernel, or use the O(N d) rules 'mean' / 'dsan'."
        )


# ----------------------------------------------------------------------------- Gram blocks
# A "layer" list lets one code path serve MMD (one layer) and JMMD (a product of
# per-layer kernels).


def _gram(kernels: Sequence[Kernel], xs: Sequence[jax.Array], ys: Sequence[jax.Array]):
    out = kernels[0](xs[0], ys[0])
    for k, x, y in zip(kernels[1:], xs[1:], ys[1:], strict=True):
        out = out * k(x, y)
    return out


def _rowwise(kernels: Sequence[Kernel], xs: Sequence[jax.Array], ys: Sequence[jax.Array]):
    out = kernels[0].pairwise(xs[0], ys[0])
    for k, x, y in zip(kernels[1:], xs[1:], ys[1:], strict=True):
        out = out * k.pairwise(x, y)
    return out


def _quad(p: jax.Array, k: jax.Array, q: jax.Array) -> jax.Array:
    return jnp.dot(p, jnp.dot(k, q, precision=_HIGHEST), precision=_HIGHEST)


def _dense_forms(kernels, xs, ys, p, q, *, exclude_diag: bool):
    """``(p^T Kss p, q^T Ktt q, p^T Kst q)`` from one pooled ``[n+m, n+m]`` Gram matrix.

    One pooled matrix instead of three blocks: fewer kernels to compile and run,
    for a third more entries (``Kts`` is computed although ``Kst`` would do).
    ``exclude_diag`` drops the pooled diagonal, i.e. those of ``Kss`` and ``Ktt``.
    """
    n, m = p.shape[0], q.shape[0]
    zs = [jnp.concatenate([x, y]) for x, y in zip(xs, ys, strict=True)]
    k = _gram(kernels, zs, zs)
    if exclude_diag:
        k = jnp.where(jnp.eye(n + m, dtype=bool), 0.0, k)
    v = jnp.stack(
        [
            jnp.concatenate([p, jnp.zeros((m,), p.dtype)]),
            jnp.concatenate([jnp.zeros((n,), q.dtype), q]),
        ],
        axis=1,
    )
    # With uniform weights `v` is a constant; without the barrier XLA constant-folds
    # the [n+m, n+m] outer product of the backward pass at compile time (seconds).
    v = jax.lax.optimization_barrier(v)
    forms = jnp.dot(v.T, jnp.dot(k, v, precision=_HIGHEST), precision=_HIGHEST)
    return forms[0, 0], forms[1, 1], forms[0, 1]


def _pad_rows(x: jax.Array, rows: int) -> jax.Array:
    return jnp.pad(x, [(0, rows - x.shape[0])] + [(0, 0)] * (x.ndim - 1))


def _tiled_form(kernels, xs, ys, p, q, *, block: int, symmetric: bool, exclude_diag: bool):
    """``p^T K q`` for ``K = prod_l k_l(xs_l, ys_l)``, one ``[block, block]`` tile at a time.

    Rows are zero-padded to a multiple of ``block`` with zero weight, so every tile
    has the same static shape. When ``ys is xs`` (``symmetric``), only tiles
    ``I <= J`` are visited and off-diagonal tiles count twice. The tile body is
    rematerialised under ``grad`` (``jax.checkpoint``), so reverse mode also stays
    at O(block²) memory instead of storing every tile.
    """
    n, m = xs[0].shape[0], ys[0].shape[0]
    nbx, nby = -(-n // block), -(-m // block)
    xs_p = [_pad_rows(x, nbx * block) for x in xs]
    p_p = _pad_rows(p, nbx * block)
    if symmetric:
        ys_p, q_p = xs_p, p_p
        rows, cols = np.triu_indices(nbx)
        factor = np.where(rows == cols, 1.0, 2.0)
    else:
        ys_p = [_pad_rows(y, nby * block) for y in ys]
        q_p = _pad_rows(q, nby * block)
        rows, cols = (a.ravel() for a in np.meshgrid(np.arange(nbx), np.arange(nby), indexing="ij"))
        factor = np.ones(rows.shape)
    eye = jnp.eye(block, dtype=bool)

    @jax.checkpoint
    def tile(i, j, f):
        xi = [jax.lax.dynamic_slice_in_dim(x, i * block, block) for x in xs_p]
        yj = [jax.lax.dynamic_slice_in_dim(y, j * block, block) for y in ys_p]
        k = _gram(kernels, xi, yj)
        if exclude_diag:
            k = jnp.where(eye & (i == j), 0.0, k)
        pi = jax.lax.dynamic_slice_in_dim(p_p, i * block, block)
        qj = jax.lax.dynamic_slice_in_dim(q_p, j * block, block)
        return f * _quad(pi, k, qj)

    def body(carry, idx):
        return carry, tile(*idx)

    index = (
        jnp.asarray(rows, dtype=jnp.int32),
        jnp.asarray(cols, dtype=jnp.int32),
        jnp.asarray(factor, dtype=p.dtype),
    )
    # Tile values are kept and summed at the end (a pairwise reduction) rather
    # than accumulated in the carry, which loses less precision in float32.
    _, parts = jax.lax.scan(body, None, index)
    return jnp.sum(parts)


# ----------------------------------------------------------------------------- estimators


def _weights(w: jax.Array | None, n: int, dtype) -> jax.Array:
    if w is None:
        return jnp.full((n,), 1.0 / n, dtype=dtype)
    w = w.astype(dtype)
    return w / jnp.sum(w)


def _quadratic_estimate(
    kernels, xs, ys, p, q, *, unbiased: bool, block: int | None, pooled: bool = True
):
    if block is None and pooled and _mmd_pooled.supports(kernels):
        # One GEMM per layer, one fused pass and a custom derivative (_mmd_pooled).
        one = jnp.ones((), p.dtype)
        c_ss = one / (1.0 - jnp.sum(p * p)) if unbiased else one
        c_tt = one / (1.0 - jnp.sum(q * q)) if unbiased else one
        s = jnp.stack([jnp.stack([c_ss, -one]), jnp.stack([-one, c_tt])])
        zs = tuple(jnp.concatenate([x, y]) for x, y in zip(xs, ys, strict=True))
        w = jnp.concatenate([p, q])
        return _mmd_pooled.weighted_pooled_sum(p.shape[0], unbiased, zs, tuple(kernels), w, s)
    if block is None:
        ss, tt, st = _dense_forms(kernels, xs, ys, p, q, exclude_diag=unbiased)
    else:
        kw = {"block": block}
        ss = _tiled_form(kernels, xs, xs, p, p, symmetric=True, exclude_diag=unbiased, **kw)
        tt = _tiled_form(kernels, ys, ys, q, q, symmetric=True, exclude_diag=unbiased, **kw)
        st = _tiled_form(kernels, xs, ys, p, q, symmetric=False, exclude_diag=False, **kw)
    if unbiased:
        # sum_{i != j} p_i p_j = (sum p)^2 - sum p^2 = 1 - sum p^2.
        ss = ss / (1.0 - jnp.sum(p * p))
        tt = tt / (1.0 - jnp.sum(q * q))
    return ss + tt - 2.0 * st


def _linear_estimate(kernels, xs, ys, *, cyclic: bool) -> jax.Array:
    length = min(xs[0].shape[0], ys[0].shape[0])
    if cyclic:
        a = np.arange(length)
        b = (a + 1) % length
    else:
        a = 2 * np.arange(length // 2)
        b = a + 1
    xa, xb = [x[a] for x in xs], [x[b] for x in xs]
    ya, yb = [y[a] for y in ys], [y[b] for y in ys]
    h = (
        _rowwise(kernels, xa, xb)
        + _rowwise(kernels, ya, yb)
        - _rowwise(kernels, xa, yb)
        - _rowwise(kernels, xb, ya)
    )
    return jnp.mean(h)


def _estimate(
    kernels: Sequence[Kernel],
    xs: Sequence[jax.Array],
    ys: Sequence[jax.Array],
    *,
    estimator: str,
    source_weights: ArrayLike | None,
    target_weights: ArrayLike | None,
    block_size: int | None,
    names: tuple[str, str],
) -> jax.Array:
    """Shared body of :func:`mmd` and :func:`jmmd` on validated layers."""
    unbiased = estimator == "unbiased"
    if estimator in ("linear", "linear_cyclic"):
        if source_weights is not None or target_weights is not None:
            raise ValueError(
                f"`source_weights`/`target_weights` are not supported with "
                f"estimator={estimator!r}; use 'biased' or 'unbiased' for weighted MMD."
            )
        _checks.check_min_samples(xs[0], names[0], 2, f"estimator={estimator!r}")
        _checks.check_min_samples(ys[0], names[1], 2, f"estimator={estimator!r}")
    elif unbiased:
        _checks.check_min_samples(xs[0], names[0], 2, "estimator='unbiased'")
        _checks.check_min_samples(ys[0], names[1], 2, "estimator='unbiased'")
    ws = _checks.check_weights(source_weights, xs[0], "source_weights", names[0])
    wt = _checks.check_weights(target_weights, ys[0], "target_weights", names[1])
    _check_weight_values(ws, "source_weights", unbiased)
    _check_weight_values(wt, "target_weights", unbiased)
    block = _check_block_size(block_size)
    return _compute(
        list(kernels), list(xs), list(ys), ws, wt, estimator=estimator, block=block,
        pooled=_USE_POOLED,
    )


# Compiled once per configuration, so that eager calls (evaluation loops, tests)
# do not re-trace the tile scan every time; inside a caller's jit it is inlined.
@functools.partial(jax.jit, static_argnames=("estimator", "block", "pooled"))
def _compute(
    kernels, xs, ys, ws, wt, *, estimator: str, block: int | None, pooled: bool = True
) -> jax.Array:
    n, m = xs[0].shape[0], ys[0].shape[0]
    dtype = jnp.result_type(*xs, *ys)
    xs = [x.astype(dtype) for x in xs]
    ys = [y.astype(dtype) for y in ys]
    # Centre (and, for data-driven bandwidths, rescale) each layer before any Gram
    # block: the value is unchanged and float32 stays accurate at any offset and
    # scale. The linear kernel's MMD is translation invariant too, except for the
    # weighted unbiased estimate, whose diagonal correction depends on the origin.
    weighted = ws is not None or wt is not None
    framed = [
        _prepare(
            k,
            x,
            y,
            centre=k.shift_invariant
            or (isinstance(k, Linear) and not (estimator == "unbiased" and weighted)),
        )
        for k, x, y in zip(kernels, xs, ys, strict=True)
    ]
    kernels = [f[0] for f in framed]
    xs = [f[1] for f in framed]
    ys = [f[2] for f in framed]
    if estimator in ("linear", "linear_cyclic"):
        return _linear_estimate(kernels, xs, ys, cyclic=estimator == "linear_cyclic")
    p = _weights(ws, n, dtype)
    q = _weights(wt, m, dtype)
    unbiased = estimator == "unbiased"
    return _quadratic_estimate(
        kernels, xs, ys, p, q, unbiased=unbiased, block=block, pooled=pooled
    )


# ----------------------------------------------------------------------------- public API


def mmd(
    source: ArrayLike,
    target: ArrayLike,
    *,
    kernel: Kernel,
    estimator: str = "biased",
    source_weights: ArrayLike | None = None,
    target_weights: ArrayLike | None = None,
    block_size: int | None = None,
) -> jax.Array:
    r"""Squared maximum mean discrepancy between two samples.

    With sample weights normalised inside to :math:`p = w_s / \sum w_s` and
    :math:`q = w_t / \sum w_t` (uniform :math:`1/n`, :math:`1/m` when not given):

    .. math::

       \text{biased (V-statistic):}\quad
       p^\top K_{ss} p + q^\top K_{tt} q - 2\,p^\top K_{st} q

       \text{unbiased (U-statistic):}\quad
       \frac{\sum_{i\ne j} p_i p_j K^{ss}_{ij}}{\sum_{i\ne j} p_i p_j}
       + \frac{\sum_{i\ne j} q_i q_j K^{tt}_{ij}}{\sum_{i\ne j} q_i q_j}
       - 2\,p^\top K_{st} q

       \text{linear:}\quad \frac{1}{L}\sum_{i=0}^{L-1} h(z_{2i}, z_{2i+1}),\qquad
       h(z, z') = k(s, s') + k(t, t') - k(s, t') - k(s', t)

    where :math:`z_i = (s_i, t_i)` and :math:`L = \lfloor \min(n, m) / 2 \rfloor`.

    * ``"biased"`` is :math:`\ge 0` and exactly 0 for identical sets.
    * ``"unbiased"`` excludes the diagonals of :math:`K_{ss}, K_{tt}`; with uniform
      weights it is :math:`\sum_{i\ne j}K^{ss}_{ij}/(n(n-1)) + \sum_{i\ne j}
      K^{tt}_{ij}/(m(m-1)) - 2\,\overline{K_{st}}`. It is **not clipped**: it is
      negative about half the time when both samples come from one distribution.
      With weights fixed independently of the samples it stays unbiased; with
      data-dependent (importance) weights it is the usual self-normalised estimate.
    * ``"linear"`` is Gretton et al.'s linear-time estimate (Lemma 14), used by
      DAN: disjoint pairs :math:`(2i, 2i+1)`, O(n) time and memory, unbiased,
      higher variance. When ``n != m`` it uses the first
      :math:`2\lfloor\min(n,m)/2\rfloor` samples of each set (the rest are
      ignored: shuffle first if the order carries meaning).
    * ``"linear_cyclic"`` is the variant of TLlib's ``linear=True`` DAN: the
      overlapping pairs :math:`(i, i+1 \bmod L)`, :math:`L = \min(n, m)`,
      averaged over :math:`L` terms. Also unbiased.

    Weights are not defined for the linear estimators (an error is raised).

    Without ``block_size`` the pooled ``[n+m, n+m]`` Gram matrix is computed (fast
    for minibatches; for the built-in distance kernels in panels of rows, with one
    GEMM in the forward and one in the backward pass and a custom JVP, see
    ``docs/performance.md``). ``block_size=b`` computes the same ``"biased"``/``"unbiased"``
    value tile by tile (``jax.lax.scan`` over ``[b, b]`` Gram tiles, symmetric tiles
    of :math:`K_{ss}, K_{tt}` visited once) in :math:`O(b^2 + (n+m)d)` memory, under
    ``jit`` and ``grad`` alike (tiles are recomputed in the backward pass): n = m =
    200,000, d = 64 runs in about 0.6 GiB of host memory on CPU, where the dense
    Gram matrix alone would take 596 GiB. It has no effect on the linear
    estimators, which are O(n) already. The ``"mean"`` and
    ``"dsan"`` bandwidth rules cost :math:`O(Nd)`; the ``"median"`` rule needs all
    pairwise distances and is refused with ``block_size``: resolve the kernel once
    yourself (on a subsample if needed) and pass the fixed kernel.

    Settings that reproduce reference code are listed in the module docstring
    (DAN: ``kernel=MultiGaussian.dan()`` with ``"unbiased"`` or
    ``"linear_cyclic"``, without TLlib's :math:`+2/(b-1)`).

    Args:
      source: ``[n, d]`` source features.
      target: ``[m, d]`` target features; ``m != n`` is fine.
      kernel: a :mod:`dalib.kernels` kernel; data-driven bandwidths are resolved
        once on ``source`` and ``target`` together, without gradient.
      estimator: ``"biased"`` (default), ``"unbiased"``, ``"linear"`` or
        ``"linear_cyclic"``.
      source_weights: optional non-negative ``[n]`` importance weights.
      target_weights: optional non-negative ``[m]`` importance weights.
      block_size: optional tile size for the O(b²)-memory computation.

    Returns:
      Scalar estimate of :math:`\mathrm{MMD}^2`. Concrete inputs holding NaN or
      infinity raise ``ValueError``; under ``jit`` they propagate to a NaN output.

    Raises:
      ValueError: bad ranks, feature sizes, empty sets, too few samples, unknown
        ``estimator``, bad weights or ``block_size``.
      TypeError: integer features or weights, or ``kernel`` not a kernel.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from dalib.kernels import Gaussian, Linear
      >>> xs = jnp.array([[0.0], [1.0], [2.0]])
      >>> xt = jnp.array([[1.0], [3.0]])
      >>> round(float(mmd(xs, xt, kernel=Linear())), 4)  # (mean 1 - mean 2)^2
      1.0
      >>> s = jax.random.normal(jax.random.key(0), (500, 2))
      >>> t = jax.random.normal(jax.random.key(1), (400, 2)) + 1.0
      >>> dense = mmd(s, t, kernel=Gaussian(bandwidth=1.0), estimator="unbiased")
      >>> tiled = mmd(s, t, kernel=Gaussian(bandwidth=1.0), estimator="unbiased",
      ...             block_size=128)
      >>> bool(jnp.allclose(dense, tiled, rtol=1e-4))
      True

    References:
      Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012.
      Long et al., "Learning Transferable Features with Deep Adaptation
      Networks", ICML 2015.
    """
    source, target = _checks.feature_pair(source, target)
    _checks.check_choice(estimator, "estimator", ESTIMATORS)
    kernel = _checks.check_kernel(kernel, "kernel")
    if block_size is not None:
        _check_median_free(kernel, "kernel")
    return _estimate(
        [kernel],
        [source],
        [target],
        estimator=estimator,
        source_weights=source_weights,
        target_weights=target_weights,
        block_size=block_size,
        names=("source", "target"),
    )
