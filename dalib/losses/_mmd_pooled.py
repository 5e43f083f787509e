r"""The dense quadratic MMD estimates as one weighted sum over the pooled Gram matrix.

For pooled samples :math:`Z = [X_s; X_t]` (``N = n + m`` rows, one per layer for
JMMD), sample weights :math:`w = [p; q]` and a symmetric ``2 x 2`` block matrix
:math:`S` (rows/columns: source, target), every dense estimate is

.. math::

   E = \sum_{i,j} W_{ij}\, K_{ij}, \qquad W_{ij} = w_i w_j S_{b(i) b(j)},
   \qquad K = \prod_l k_l(D_l),\quad D_l = \operatorname{sqdist}(Z_l, Z_l),

with :math:`b(i)` the block of row :math:`i` and :math:`W_{ii} = 0` for the
unbiased estimate. Biased MMD is :math:`S = \begin{pmatrix}1&-1\\-1&1\end{pmatrix}`.

Cost: one ``N x N x d`` GEMM per layer for :math:`Z Z^\top`, then a single fused
elementwise pass (distances, kernel, weights, reduction). The derivative is a
custom JVP: with :math:`G = W \odot \partial K / \partial D` (diagonal set to 0,
where :math:`D_{ii} \equiv 0`),

.. math::

   \mathrm{d}E = \sum_{ij} G_{ij}\, \mathrm{d}D_{ij}
   = 2 \sum_i \mathrm{d}z_i^\top \textstyle\sum_j (G_{ij} + G_{ji})(z_i - z_j),

i.e. ``dE = 4 <dZ, r * Z - G Z>`` for symmetric :math:`G` (``r`` its row sums):
one more GEMM, computed with the primal, and an ``N x d`` residual; the
reverse pass then has no ``N x N`` work left. Autodiff of the plain formula
instead runs two GEMMs in the backward pass (one per operand of :math:`Z Z^\top`)
and several ``N x N`` passes.

The rows are processed in panels of ``_PANEL`` rows (``lax.map``): the GEMM
``Z_I Z^T``, the kernel pass and ``G_I Z`` for one panel stay in cache, whereas
XLA on the CPU splits the fused kernel pass over a whole ``N x N`` matrix into
several passes through memory (one per squaring and one per consumer). The
per-column quantities (column index, sample weight) enter every panel as a
scanned-over copy: computed from loop constants, XLA hoists their ``rows x N``
broadcasts out of the loop and reads those arrays back in every panel (on
2048 + 2048 rows of 512 features this was about 10 % of the time).
From ``_PAIRS_MIN_PANELS`` panels on (``N >= 4096`` with 256-row panels), each
unordered pair of panels is visited once (:func:`_sweep_pairs`): about half the
kernel entries and half the forward GEMM, the backward GEMM split into a row
and a column part of about the same total size.
Forward mode (``jvp``, ``jacfwd``) works as well.
Gradients with respect to kernel parameters (a learned bandwidth), the weights
and :math:`S` are supported too (pre-reduced to vectors and scalars).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from dalib.kernels import Gaussian, InverseMultiquadric, Kernel, Laplacian, MultiGaussian

_HIGHEST = jax.lax.Precision.HIGHEST

# Kernels computed from squared distances alone, whose ``__call__`` is exactly
# ``from_sq_dists(pairwise_sq_dists(x, y))`` on prepared (centred) data.
_DISTANCE_KERNELS = (Gaussian, Laplacian, InverseMultiquadric, MultiGaussian)


_PANEL = 256  # 128 and 512 were slower at N = 4096 on a 2-core AMD EPYC
# From this many panels on, each pair of panels is visited once (_sweep_pairs).
# Measured against full rows (2-core AMD EPYC, d = 512, fwd + bwd): 4-8 panels
# 15-25 % slower, 12 level, 16 (N = 4096) 150 -> 130 ms, 32 (N = 8192) 590 -> 497 ms.
_PAIRS_MIN_PANELS = 16


def supports(kernels) -> bool:
    """True when every layer's kernel is a built-in distance kernel with fixed parameters."""
    return all(isinstance(k, _DISTANCE_KERNELS) and k.is_resolved for k in kernels)


def _centre(z: jax.Array) -> jax.Array:
    # As in pairwise_sq_dists(z, z): distances do not depend on the point, and the
    # expansion |a|^2 + |b|^2 - 2 a.b does not cancel far from the origin.
    return z - jax.lax.stop_gradient(jnp.mean(z, axis=0))


def _kernel_values(kernel: Kernel, d2: jax.Array, derivative: bool):
    if not derivative:
        return kernel.from_sq_dists(d2), None
    # Elementwise, so one forward-mode pass gives k(D) and k'(D) together.
    return jax.jvp(kernel.from_sq_dists, (d2,), (jnp.ones_like(d2),))


def _product_except(values, skip: int):
    out = None
    for i, v in enumerate(values):
        if i != skip:
            out = v if out is None else out * v
    return out


def _block(n, exclude_diag, kernels, moving, s, rows, cols):
    """``(W * K, [G_l or None])`` on one block: ``rows``/``cols`` are ``(index, weight,
    [z_l], [|z_l|^2 or None])`` with indices ``[r, 1]`` and ``[1, c]``."""
    row_index, w_rows, zis, _ = rows
    col_index, w_cols, zjs, sqjs = cols
    diag = row_index == col_index
    col_block = col_index < n
    d2s = []
    for zi, zj, sqj in zip(zis, zjs, sqjs, strict=True):
        sqi = jnp.sum(zi * zi, axis=-1)
        gram = jnp.matmul(zi, zj.T, precision=_HIGHEST)
        d2 = jnp.maximum(sqi[:, None] + sqj[None, :] - 2.0 * gram, 0.0)
        d2s.append(jnp.where(diag, 0.0, d2))
    pairs = [_kernel_values(k, d2, mv) for k, d2, mv in zip(kernels, d2s, moving, strict=True)]
    values = [v for v, _ in pairs]
    coef = jnp.where(
        row_index < n,
        jnp.where(col_block, s[0, 0], s[0, 1]),
        jnp.where(col_block, s[1, 0], s[1, 1]),
    )
    weights = w_rows[:, None] * w_cols[None, :] * coef
    if exclude_diag:
        weights = jnp.where(diag, 0.0, weights)
    grads = []
    for layer, (_, deriv) in enumerate(pairs):
        if deriv is None:
            grads.append(None)
            continue
        others = _product_except(values, layer)
        g = weights * deriv if others is None else weights * deriv * others
        grads.append(jnp.where(diag, 0.0, g))  # D_ii is identically 0: no derivative there
    return weights * _product_except(values, -1), grads


def _sweep(n, exclude_diag, zcs, kernels, w, s, moving):
    """``(E, [Y_l or None])`` over row panels; ``Y_l = r * Z_l - G_l Z_l`` for moving layers."""
    size = w.shape[0]
    rows = min(_PANEL, size)
    count = -(-size // rows)
    if count >= max(3, _PAIRS_MIN_PANELS):
        return _sweep_pairs(n, exclude_diag, zcs, kernels, w, s, moving, rows, count)
    padded = count * rows
    zps = [jnp.pad(z, [(0, padded - size), (0, 0)]) for z in zcs]
    sqs = [jnp.sum(z * z, axis=-1) for z in zcs]
    wp = jnp.pad(w, (0, padded - size))
    # Uniform weights are constants: keep XLA from folding N x N products of them.
    w, wp, s = jax.lax.optimization_barrier((w, wp, s))
    cols = jnp.arange(size, dtype=jnp.int32)

    def panel(args):
        start, cols, w_cols = args
        row_index = (start + jnp.arange(rows, dtype=jnp.int32))[:, None]
        zis = [jax.lax.dynamic_slice_in_dim(zp, start, rows) for zp in zps]
        wi = jax.lax.dynamic_slice_in_dim(wp, start, rows)
        a, grads = _block(
            n, exclude_diag, kernels, moving, s,
            (row_index, wi, zis, None), (cols[None, :], w_cols, zcs, sqs),
        )  # fmt: skip
        ys = [
            None if g is None
            else jnp.sum(g, axis=1)[:, None] * zi - jnp.matmul(g, z, precision=_HIGHEST)
            for g, zi, z in zip(grads, zis, zcs, strict=True)
        ]  # fmt: skip
        return jnp.sum(a), ys

    if count == 1:
        part, ys = panel((jnp.zeros((), jnp.int32), cols, w))
        return part, ys
    # One copy of the column vectors per panel, scanned over (module docstring).
    each = jax.lax.optimization_barrier(
        (jnp.broadcast_to(cols, (count, size)), jnp.broadcast_to(w, (count, size)))
    )
    parts, ys = jax.lax.map(panel, (jnp.arange(count, dtype=jnp.int32) * rows, *each))
    ys = [None if y is None else y.reshape(padded, -1)[:size] for y in ys]
    # Panel totals summed at the end (pairwise), not accumulated in a carry.
    return jnp.sum(parts), ys


def _sweep_pairs(n, exclude_diag, zcs, kernels, w, s, moving, rows, count):
    """:func:`_sweep` visiting each unordered pair of row panels once (``count >= 3``).

    Panel ``p`` meets panels ``p, p + 1, ..., p + count // 2`` (cyclically): a
    window of ``count // 2 + 1`` panels of columns from a doubled ``Z``. A pair
    of different panels met once counts twice in ``E`` and hands each side its
    share of ``Y`` (``G_IJ (z_i - z_j)`` to the rows, ``G_IJ^T (z_j - z_i)`` to
    the columns); the panel itself, and with an even count the opposite panel
    (met from both sides), count once and feed their rows only. About half the
    kernel entries and of the forward GEMM of the full-row sweep; the backward
    GEMMs stay about as large (rows and columns).
    """
    size = w.shape[0]
    padded = count * rows
    width = (count // 2 + 1) * rows
    zps = [jnp.pad(z, [(0, padded - size), (0, 0)]) for z in zcs]
    zds = [jnp.concatenate([zp, zp]) for zp in zps]
    sqds = [jnp.tile(jnp.sum(zp * zp, axis=-1), 2) for zp in zps]
    wp = jnp.pad(w, (0, padded - size))
    wp, s = jax.lax.optimization_barrier((wp, s))
    wd = jnp.tile(wp, 2)
    cold = jnp.tile(jnp.arange(padded, dtype=jnp.int32), 2)  # true column of each window slot
    offset = jnp.arange(width, dtype=jnp.int32) // rows  # panel offset within the window
    once = (offset > 0) & (2 * offset < count)  # pairs met once: both directions here
    # scanned-over copies, so that XLA does not hoist [rows, width] broadcasts of them
    once_each = jax.lax.optimization_barrier(jnp.broadcast_to(once, (count, width)))

    def panel(accs, args):
        start, once_w = args
        row_index = (start + jnp.arange(rows, dtype=jnp.int32))[:, None]
        zis = [jax.lax.dynamic_slice_in_dim(zp, start, rows) for zp in zps]
        zjs = [jax.lax.dynamic_slice_in_dim(zd, start, width) for zd in zds]
        a, grads = _block(
            n, exclude_diag, kernels, moving, s,
            (row_index, jax.lax.dynamic_slice_in_dim(wp, start, rows), zis, None),
            (
                jax.lax.dynamic_slice_in_dim(cold, start, width)[None, :],
                jax.lax.dynamic_slice_in_dim(wd, start, width),
                zjs,
                [jax.lax.dynamic_slice_in_dim(sqd, start, width) for sqd in sqds],
            ),
        )  # fmt: skip
        column_sums = jnp.sum(a, axis=0)
        part = jnp.sum(jnp.where(once_w, 2.0 * column_sums, column_sums))
        new = []
        for g, zi, zj, acc in zip(grads, zis, zjs, accs, strict=True):
            if g is None:
                new.append(acc)
                continue
            y_rows = jnp.sum(g, axis=1)[:, None] * zi - jnp.matmul(g, zj, precision=_HIGHEST)
            gc = jnp.where(once_w[None, :], g, 0.0)
            y_cols = jnp.sum(gc, axis=0)[:, None] * zj - jnp.matmul(
                gc.T, zi, precision=_HIGHEST
            )
            # the window starts with the panel's own rows
            window = jax.lax.dynamic_slice_in_dim(acc, start, width) + y_cols.at[:rows].add(y_rows)
            new.append(jax.lax.dynamic_update_slice_in_dim(acc, window, start, 0))
        return new, part

    accs = [
        jnp.zeros((2 * padded, z.shape[1]), z.dtype) if mv else None
        for z, mv in zip(zcs, moving, strict=True)
    ]
    starts = jnp.arange(count, dtype=jnp.int32) * rows
    accs, parts = jax.lax.scan(panel, accs, (starts, once_each))
    ys = [None if a is None else (a[:padded] + a[padded:])[:size] for a in accs]
    return jnp.sum(parts), ys


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def weighted_pooled_sum(n: int, exclude_diag: bool, zs, kernels, w, s) -> jax.Array:
    r"""``sum_ij W_ij prod_l k_l(D_l)_ij`` over pooled layers ``zs`` (module docstring).

    Args:
      n: number of source rows (the first ``n`` rows of every ``zs[l]``).
      exclude_diag: drop ``i == j`` (unbiased estimate).
      zs: tuple of ``[N, d_l]`` pooled layers, already centred / rescaled.
      kernels: tuple of resolved distance kernels, one per layer.
      w: ``[N]`` sample weights ``[p; q]``.
      s: ``[2, 2]`` symmetric block coefficients.
    """
    zcs = [_centre(z) for z in zs]
    return _sweep(n, exclude_diag, zcs, kernels, w, s, [False] * len(zs))[0]


def _is_zero(t) -> bool:
    return isinstance(t, SymbolicZero)


@functools.partial(weighted_pooled_sum.defjvp, symbolic_zeros=True)
def _weighted_pooled_sum_jvp(n, exclude_diag, primals, tangents):
    zs, kernels, w, s = primals
    dzs, dkernels, dw, ds = tangents
    zcs = [_centre(z) for z in zs]
    moving = [not _is_zero(dz) for dz in dzs]
    total, ys = _sweep(n, exclude_diag, zcs, kernels, w, s, moving)
    tangent = jnp.zeros((), total.dtype)
    for dz, y in zip(dzs, ys, strict=True):
        if y is not None:
            # dE = 2 sum_i dz_i . sum_j (G_ij + G_ji)(z_i - z_j), G symmetric.
            tangent = tangent + 4.0 * jnp.sum(dz * y)
    # Kernel parameters, weights and block coefficients (rarely differentiated):
    # gradients pre-reduced to their own small shapes, so the linearised map keeps
    # no N x N residual.
    kernel_moving = [
        any(not _is_zero(t) for t in jax.tree_util.tree_leaves(dk, is_leaf=_is_zero))
        for dk in dkernels
    ]
    if not _is_zero(dw) or not _is_zero(ds) or any(kernel_moving):

        def value(ks, w_, s_):
            # Plain autodiff of the sweep (not the custom rule, which would recurse).
            return _sweep(n, exclude_diag, zcs, ks, w_, s_, [False] * len(zs))[0]

        g_k, g_w, g_s = jax.grad(value, argnums=(0, 1, 2))(tuple(kernels), w, s)
        if not _is_zero(dw):
            tangent = tangent + jnp.sum(g_w * dw)
        if not _is_zero(ds):
            tangent = tangent + jnp.sum(g_s * ds)
        for gk, dk, mv in zip(g_k, dkernels, kernel_moving, strict=True):
            if not mv:
                continue
            leaves = jax.tree_util.tree_leaves(dk, is_leaf=_is_zero)
            for gl, tl in zip(jax.tree_util.tree_leaves(gk), leaves, strict=True):
                if not _is_zero(tl):
                    tangent = tangent + jnp.sum(gl * tl)
    return total, tangent.astype(total.dtype)
