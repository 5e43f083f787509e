"""LBP-TOP and LBP-SIP descriptors of clips, block by block (see :mod:`dalib.features._lbp`).

The conventions (neighbour order, interpolation, borders, the nri-uniform
mapping) are those of :func:`dalib.features.lbp`, documented in its module.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib.features._lbp import (
    _SIP_SPATIAL_BINS,
    _SIP_TEMPORAL_BINS,
    _as_volume,
    _check_grids,
    _check_neighbours,
    _check_radius,
    _check_size,
    _margin,
    _nri_uniform_map,
    _offsets,
    _plane_codes,
    _window,
    nri_uniform_bins,
)

__all__ = [
    "block_grid_positions",
    "block_groups",
    "lbp_sip",
    "lbp_top",
]

# --------------------------------------------------------------------------- blocks


def _cell_bounds(n: int, g: int) -> np.ndarray:
    """Boundaries ``floor(i·n/g)``, ``i = 0..g``: cells differ by at most one position."""
    return (np.arange(g + 1) * n) // g


def _block_matrices(n: int, grids: tuple[int, ...]):
    """Atom membership ``[A, n]`` and, per grid, cell-of-atoms ``[g, A]`` 0/1 matrices.

    Atoms are the intervals between the union of all grids' boundaries, so every
    cell of every grid is a union of atoms and each voxel is counted once.
    """
    cuts = np.unique(np.concatenate([_cell_bounds(n, g) for g in grids]))
    atom_of = np.searchsorted(cuts, np.arange(n), side="right") - 1
    atoms = (atom_of[None, :] == np.arange(len(cuts) - 1)[:, None]).astype(np.float32)
    per_grid = []
    for g in grids:
        b = _cell_bounds(n, g)
        cell_of_atom = np.searchsorted(b, cuts[:-1], side="right") - 1
        per_grid.append((cell_of_atom[None, :] == np.arange(g)[:, None]).astype(np.float32))
    return atoms, per_grid


@functools.cache
def _bincount(length: int):
    """``jnp.bincount(index, length=length)`` whose ``vmap`` is one flat bincount.

    XLA's batched scatter is several times slower on CPU than one scatter over
    the batch with the clip's number folded into the index.
    """

    @jax.custom_batching.custom_vmap
    def count(index):
        return jnp.bincount(index, length=length)

    @count.def_vmap
    def _count_batched(axis_size, in_batched, index):
        del in_batched
        offset = jnp.arange(axis_size, dtype=index.dtype)[:, None] * length
        flat = (index + offset).reshape(-1)
        return _bincount(axis_size * length)(flat).reshape(axis_size, length), True

    return count


def _block_histograms(bins: jax.Array, n_bins: int, grids: tuple[int, ...]) -> jax.Array:
    """``[n_planes, T', H', W']`` bin indices -> ``[n_blocks, n_planes, n_bins]`` float32 counts.

    One ``bincount`` over (plane, row atom, column atom, bin) counts every voxel
    once; the cells of each grid are then sums of atoms (two 0/1 matrix products).
    A one-hot sum over time would touch ``n_bins`` times more memory.
    """
    n_planes, _, h, w = bins.shape
    atoms_y, grid_y = _block_matrices(h, grids)
    atoms_x, grid_x = _block_matrices(w, grids)
    a_y, a_x = len(atoms_y), len(atoms_x)
    atom_of_y = jnp.asarray(np.argmax(atoms_y, axis=0).astype(np.int32))
    atom_of_x = jnp.asarray(np.argmax(atoms_x, axis=0).astype(np.int32))
    plane = jnp.arange(n_planes, dtype=jnp.int32)[:, None, None, None]
    index = ((plane * a_y + atom_of_y[:, None]) * a_x + atom_of_x) * n_bins + bins
    counts = _bincount(n_planes * a_y * a_x * n_bins)(index.reshape(-1))
    counts = counts.astype(jnp.float32).reshape(n_planes, a_y, a_x, n_bins)
    hp = jax.lax.Precision.HIGHEST
    out = []
    for gy, gx in zip(grid_y, grid_x, strict=True):
        cell = jnp.einsum("ia,jc,pacb->ijpb", gy, gx, counts, precision=hp)
        out.append(cell.reshape(-1, n_planes, n_bins))
    return jnp.concatenate(out, axis=0)


def block_grid_positions(grids: Sequence[int] = (1, 2, 4, 8)) -> np.ndarray:
    r"""Grid, row and column of every face block, in feature order.

    Blocks are numbered grid by grid in the order of ``grids`` and, inside a
    ``g x g`` grid, row by row from the top-left cell (row 0 = top rows of the
    frame, column 0 = left columns): block
    :math:`k = \sum_{g' \text{ before } g} g'^2 + g\cdot\text{row} + \text{col}`.
    With the default grids block 0 is the whole face, blocks 1–4 the 2 x 2
    quadrants, 5–20 the 4 x 4 cells and 21–84 the 8 x 8 cells.

    Args:
      grids: grid sizes, e.g. ``(1, 2, 4, 8)``.

    Returns:
      ``[n_blocks, 3]`` int32 NumPy array of ``(g, row, col)``.

    Raises:
      ValueError: if ``grids`` is not a non-empty sequence of positive integers.

    Examples:
      >>> block_grid_positions((1, 2))
      array([[1, 0, 0],
             [2, 0, 0],
             [2, 0, 1],
             [2, 1, 0],
             [2, 1, 1]], dtype=int32)
    """
    rows = [(g, i, j) for g in _check_grids(grids) for i in range(g) for j in range(g)]
    return np.asarray(rows, dtype=np.int32).reshape(-1, 3)


def block_groups(grids: Sequence[int] = (1, 2, 4, 8), per_block: int = 177) -> np.ndarray:
    r"""Block index of every feature column of :func:`lbp_top` / :func:`lbp_sip`.

    The descriptors lay their features out block-major: columns
    ``[k·per_block, (k+1)·per_block)`` belong to block ``k`` of
    :func:`block_grid_positions`, so ``groups = repeat(arange(n_blocks), per_block)``.
    Use 177 (``3 x 59``) for LBP-TOP with ``P = 8`` and 20 for LBP-SIP. To draw a
    heat map of per-block weights ``w [n_blocks]`` for grid ``g``, place
    ``w[k]`` at ``(row, col)`` of each block ``k`` with that ``g``.

    Args:
      grids: the grids given to the descriptor.
      per_block: features per block.

    Returns:
      ``[n_blocks · per_block]`` int32 NumPy array.

    Raises:
      ValueError: on bad ``grids`` or a ``per_block`` that is not a positive integer.

    Examples:
      >>> g = block_groups()
      >>> g.shape, int(g[176]), int(g[177]), int(g[-1])
      ((15045,), 0, 1, 84)
    """
    n_blocks = len(block_grid_positions(grids))
    if isinstance(per_block, bool) or not isinstance(per_block, (int, np.integer)) or per_block < 1:
        raise ValueError(f"`per_block` must be a positive integer, got {per_block!r}.")
    return np.repeat(np.arange(n_blocks, dtype=np.int32), int(per_block))


# --------------------------------------------------------------------------- LBP-TOP


def _clipwise(fn):
    """Wraps a one-clip descriptor so that ``vmap`` over clips maps it clip by clip on CPU.

    A vmapped batch holds every intermediate of every clip at once (tens of MB
    for 32 clips) and runs several times slower per clip on CPU than clips taken one at a
    time, which stay in cache; on accelerators the batch is vectorised as usual.
    """

    @jax.custom_batching.custom_vmap
    def one(clip):
        return fn(clip)

    @one.def_vmap
    def _batched(axis_size, in_batched, clip):
        del axis_size, in_batched
        if jax.default_backend() == "cpu":
            return jax.lax.map(one, clip), True
        return jax.vmap(fn)(clip), True

    return jax.jit(one)


@functools.cache
def _lbp_top_fn(radii, neighbours, grids, normalize):
    return _clipwise(
        functools.partial(
            _lbp_top, radii=radii, neighbours=neighbours, grids=grids, normalize=normalize
        )
    )


def _lbp_top(clip, radii, neighbours, grids, normalize):
    r_x, r_y, r_t = radii
    margins = (_margin(r_t), _margin(r_y), _margin(r_x))
    sizes = tuple(n - 2 * m for n, m in zip(clip.shape, margins, strict=True))
    n_bins = nri_uniform_bins(neighbours)
    planes = (
        (1, 2, _offsets(neighbours, r_y, r_x)),  # XY: rows y, columns x
        (0, 2, _offsets(neighbours, r_t, r_x)),  # XT: rows t, columns x
        (0, 1, _offsets(neighbours, r_t, r_y)),  # YT: rows t, columns y
    )
    raw = jnp.stack([_plane_codes(clip, margins, sizes, r, c, o) for r, c, o in planes])
    # The barrier keeps XLA from fusing the sampling into every use of the code
    # in the mapping (it would recompute all neighbours several times per voxel).
    codes = _nri_uniform_map(jax.lax.optimization_barrier(raw), neighbours)
    hist = _block_histograms(codes, n_bins, grids)  # [n_blocks, 3, n_bins]
    if normalize:
        hist = hist / jnp.sum(hist, axis=-1, keepdims=True)
    return hist.reshape(-1)


def _check_clip_grids(clip, margins, grids, name="clip"):
    t, h, w = clip.shape
    _check_size(clip.shape, margins, ("frames", "rows", "columns"), name)
    _, vh, vw = (n - 2 * m for n, m in zip(clip.shape, margins, strict=True))
    finest = max(grids)
    if min(vh, vw) < finest:
        raise ValueError(
            f"`grids` asks for a {finest} x {finest} grid but `{name}` (shape {(t, h, w)}) "
            f"has only {vh} x {vw} coded positions after the border of "
            f"{margins[1]}/{margins[2]}; every block needs at least one row and column: "
            "use a larger clip or smaller grids."
        )


def lbp_top(
    clip: ArrayLike,
    *,
    radii: Sequence[float] = (3.0, 3.0, 3.0),
    neighbours: int = 8,
    grids: Sequence[int] = (1, 2, 4, 8),
    normalize: bool = True,
) -> jax.Array:
    r"""LBP-TOP: uniform LBP histograms on three orthogonal planes, per face block.

    For every voxel :math:`c = (t, y, x)` at least :math:`\lceil R_T\rceil`,
    :math:`\lceil R_Y\rceil`, :math:`\lceil R_X\rceil` from the borders of the
    clip, ``P`` neighbours are sampled on an ellipse in each plane through
    :math:`c` (bilinear interpolation at non-integer positions, offsets rounded
    to 5 decimals):

    .. math::

        \text{XY}: (y - R_Y\sin\theta_p,\ x + R_X\cos\theta_p),\quad
        \text{XT}: (t - R_T\sin\theta_p,\ x + R_X\cos\theta_p),\quad
        \text{YT}: (t - R_T\sin\theta_p,\ y + R_Y\cos\theta_p),

    :math:`\theta_p = 2\pi p/P`. Each plane gives the code
    :math:`\sum_p 2^p [g_p \ge g_c]` mapped to its rotation-variant uniform bin
    (:func:`nri_uniform_table`; 59 bins for ``P = 8``). So the XY code of a
    voxel is the :func:`lbp` code of its frame, the XT code that of the slice
    ``clip[:, y, :]`` (rows = time) and the YT code that of ``clip[:, :, x]``.

    Blocks: the coded region ``[T', H', W']`` is split, for each ``g`` in
    ``grids``, into ``g x g`` cells over rows and columns (all coded frames
    belong to every cell). Cell ``i`` along an axis of ``n`` coded positions
    covers ``[floor(i·n/g), floor((i+1)·n/g))``, so uneven divisions give cells
    that differ by at most one row or column (e.g. 58 rows in 8 cells: 7, 7, 7,
    8, 7, 7, 7, 8), and a grid that divides another gives nested cells. A clip
    with fewer coded rows or columns than the finest grid is an error. For each
    block the XY, XT and YT histograms are concatenated; with ``normalize`` each
    of the three sums to 1.
    The output is block-major in the order of :func:`block_grid_positions`::

        out[k·3B + j·B + b] = hist of plane j (0 = XY, 1 = XT, 2 = YT), bin b, block k

    with ``B = P(P-1)+3``; :func:`block_groups` gives the block of each column.

    Args:
      clip: ``[T, H, W]`` gray levels (float or integer; integers are computed in
        JAX's default float dtype). ``jax.vmap`` it over a batch ``[B, T, H, W]``.
      radii: ``(R_X, R_Y, R_T)``, positive, in pixels and frames.
      neighbours: ``P`` in ``[2, 16]``, the same in the three planes.
      grids: grid sizes; the default 1, 2, 4, 8 gives 85 blocks.
      normalize: scale each plane's histogram in each block to sum 1; else counts.

    Returns:
      ``[sum(g*g) · 3 · (P(P-1)+3)]`` float32: 15,045 values by default.

    Raises:
      ValueError: if ``clip`` is not 3-D, not real, holds NaN/inf (checked when
        concrete; under ``jit`` they silently give arbitrary bits), or leaves
        fewer coded rows/columns than the finest grid; on bad ``radii``,
        ``neighbours`` or ``grids``.

    Examples:
      >>> import numpy as np
      >>> clip = np.random.default_rng(0).integers(0, 256, (10, 24, 24), dtype=np.uint8)
      >>> f = lbp_top(clip, grids=(1, 2))
      >>> f.shape, [round(float(f[j * 59:(j + 1) * 59].sum()), 4) for j in range(3)]
      ((885,), [1.0, 1.0, 1.0])

    References:
      Zhao & Pietikäinen, "Dynamic texture recognition using local binary
      patterns with an application to facial expressions", IEEE TPAMI 29(6), 2007.
      Zong et al., "Cross-database micro-expression recognition: a benchmark", 2019.
    """
    p = _check_neighbours(neighbours)
    radii = tuple(radii) if isinstance(radii, Sequence | np.ndarray) else (radii,)
    if len(radii) != 3:
        raise ValueError(f"`radii` must be (R_X, R_Y, R_T), three numbers, got {radii!r}.")
    radii = tuple(_check_radius(r, "radii") for r in radii)
    g = _check_grids(grids)
    x = _as_volume(clip, "clip", 3)
    margins = (_margin(radii[2]), _margin(radii[1]), _margin(radii[0]))
    _check_clip_grids(x, margins, g)
    return _lbp_top_fn(radii, p, g, bool(normalize))(x)


# --------------------------------------------------------------------------- LBP-SIP


@functools.cache
def _lbp_sip_fn(grids, normalize):
    return _clipwise(functools.partial(_lbp_sip, grids=grids, normalize=normalize))


def _lbp_sip(clip, grids, normalize):
    sizes = tuple(n - 2 for n in clip.shape)
    centre = _window(clip, (1, 1, 1), sizes)

    def bit(shift, k):
        starts = [1 + s for s in shift]
        return (_window(clip, starts, sizes) - centre >= 0).astype(jnp.int32) << k

    # Spatial neighbours in scikit-image's P = 4 order: right, up, left, down.
    spatial = bit((0, 0, 1), 0) | bit((0, -1, 0), 1) | bit((0, 0, -1), 2) | bit((0, 1, 0), 3)
    temporal = bit((-1, 0, 0), 0) | bit((1, 0, 0), 1)  # previous frame, next frame
    h_s = _block_histograms(spatial[None], _SIP_SPATIAL_BINS, grids)[:, 0]
    h_t = _block_histograms(temporal[None], _SIP_TEMPORAL_BINS, grids)[:, 0]
    if normalize:
        h_s = h_s / jnp.sum(h_s, axis=-1, keepdims=True)
        h_t = h_t / jnp.sum(h_t, axis=-1, keepdims=True)
    return jnp.concatenate([h_s, h_t], axis=-1).reshape(-1)


def lbp_sip(
    clip: ArrayLike, *, grids: Sequence[int] = (1, 2, 4, 8), normalize: bool = True
) -> jax.Array:
    r"""LBP-SIP: LBP from the six intersection points, per face block.

    The three unit circles of LBP-TOP (``R = 1``) meet in six points: the four
    spatial neighbours and the previous and next frame of the voxel. For every
    voxel at least one position from each border,

    .. math::

        s(c) = \sum_{p=0}^{3} 2^p [g_p \ge g_c]
        \ \ (p = \text{right, up, left, down}),\qquad
        \tau(c) = [g_{t-1} \ge g_c] + 2\,[g_{t+1} \ge g_c].

    All positions are integer (no interpolation). Each block (as in
    :func:`lbp_top`) gets the 16-bin histogram of :math:`s` followed by the
    4-bin histogram of :math:`\tau`: 20 values. Every one of the 16 four-bit
    patterns keeps its own bin (the uniform mapping of ``P = 4`` would only
    merge 0101 and 1010, which we keep apart, as the 16 + 4 layout of Wang et
    al. does). With ``normalize`` each of the two histograms sums to 1 per block.
    Output: ``out[k·20 + b]``, ``b < 16`` spatial, ``b >= 16`` temporal.

    Args:
      clip: ``[T, H, W]`` gray levels; ``jax.vmap`` it over a batch.
      grids: grid sizes; the default gives 85 blocks.
      normalize: scale the spatial and the temporal histogram of every block to sum 1.

    Returns:
      ``[sum(g*g) · 20]`` float32 (1,700 values by default).

    Raises:
      ValueError: as :func:`lbp_top` (a border of 1 along each axis).

    Examples:
      >>> import numpy as np
      >>> clip = np.random.default_rng(0).random((6, 12, 12))
      >>> f = lbp_sip(clip, grids=(1, 2))
      >>> f.shape, round(float(f[:16].sum()), 4), round(float(f[16:20].sum()), 4)
      ((100,), 1.0, 1.0)

    References:
      Wang, See, Phan & Oh, "LBP with six intersection points: reducing
      redundant information in LBP-TOP for micro-expression recognition", ACCV 2014.
    """
    g = _check_grids(grids)
    x = _as_volume(clip, "clip", 3)
    _check_clip_grids(x, (1, 1, 1), g)
    return _lbp_sip_fn(g, bool(normalize))(x)
