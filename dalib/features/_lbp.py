r"""Local binary patterns in JAX: LBP of an image, LBP-TOP and LBP-SIP of a clip.

Every code is computed on whole arrays: one neighbour of one plane is a
bilinear blend of four shifted slices of the volume, the bits of the ``P``
neighbours are packed into an integer, a few bit operations (population
counts) map it to its rotation-variant uniform bin, and the block histograms
come from one ``bincount`` over (plane, cell atom, bin) followed by small 0/1
matrix products per face grid. Nothing loops over voxels, so the descriptors
``jit``, ``vmap`` over a batch of clips ``[B, T, H, W]`` (on CPU the batching
rule runs the clips one after another, which keeps each clip in cache) and
run at about a millisecond per 16 x 112 x 112 clip on one CPU core.

Conventions shared by all functions (they are also those of scikit-image's
``local_binary_pattern``, which :func:`lbp` reproduces code for code):

* Neighbour ``p`` of ``P`` sits at angle :math:`\theta_p = 2\pi p / P` on a
  circle (or an ellipse) around the centre: row offset
  :math:`-R_\text{row}\sin\theta_p`, column offset :math:`R_\text{col}\cos\theta_p`,
  both rounded to 5 decimals (so that the axis points are exact integers).
  Neighbour 0 is to the right of the centre, neighbour ``P/4`` above it.
* Non-integer positions are read by bilinear interpolation from the four
  surrounding pixels, computed in the same order of operations as
  scikit-image (``top = (1-dc)·tl + dc·tr``, ``bottom = (1-dc)·bl + dc·br``,
  ``value = (1-dr)·top + dr·bottom``) so that ties break identically in float64.
* Bit ``p`` is ``1`` when :math:`g_p \ge g_c` and the code is
  :math:`\sum_p 2^p\,\text{bit}_p`.
* Border: a pixel (voxel) is coded only when all its neighbours lie inside the
  array, i.e. it is at least :math:`\lceil R\rceil` from every border along each
  axis (``R`` the radius along that axis); the others are skipped, so no
  padding value ever enters a code.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "block_grid_positions",
    "block_groups",
    "lbp",
    "lbp_histogram",
    "lbp_sip",
    "lbp_top",
    "nri_uniform_bins",
    "nri_uniform_table",
]

_MAX_NEIGHBOURS = 16
# LBP-SIP bins: 16 four-bit spatial codes then 4 two-bit temporal codes.
_SIP_SPATIAL_BINS = 16
_SIP_TEMPORAL_BINS = 4


# --------------------------------------------------------------------------- mapping


def nri_uniform_bins(neighbours: int = 8) -> int:
    r"""Number of bins of the rotation-variant uniform mapping, :math:`P(P-1)+3`.

    Args:
      neighbours: ``P``, the number of neighbours on the circle.

    Returns:
      ``P·(P-1)`` uniform codes with between 1 and ``P-1`` ones, the all-zeros
      and the all-ones codes, and one bin for every non-uniform code: 59 for ``P = 8``.

    Examples:
      >>> nri_uniform_bins(8), nri_uniform_bins(4)
      (59, 15)
    """
    p = _check_neighbours(neighbours)
    return p * (p - 1) + 3


@functools.cache
def _nri_uniform_table(p: int) -> np.ndarray:
    codes = np.arange(2**p, dtype=np.int64)
    bits = (codes[:, None] >> np.arange(p)) & 1  # [2^P, P], bit i = neighbour i
    # Transitions counted along the open chain 0..P-1: for the circular count
    # (always even) "<= 2 circular" and "<= 2 open" select the same codes.
    changes = np.abs(np.diff(bits, axis=1)).sum(axis=1)
    n_ones = bits.sum(axis=1)
    first_one = np.argmax(bits == 1, axis=1)
    first_zero = np.argmax(bits == 0, axis=1)
    # A uniform code with k ones (0 < k < P) is a run of ones; rot is how far
    # the run starting at neighbour 0 has been rotated (scikit-image's order).
    rot = np.where(first_one == 0, n_ones - first_zero, p - first_one)
    table = 1 + (n_ones - 1) * p + rot
    table = np.where(n_ones == 0, 0, table)
    table = np.where(n_ones == p, p * (p - 1) + 1, table)
    table = np.where(changes <= 2, table, p * (p - 1) + 2)
    table = table.astype(np.int32)
    table.setflags(write=False)
    return table


def nri_uniform_table(neighbours: int = 8) -> np.ndarray:
    r"""Lookup table from a raw ``P``-bit LBP code to its rotation-variant uniform bin.

    A code is *uniform* when its circular bit string has at most two 0/1
    transitions. The bins follow scikit-image's ``method="nri_uniform"``: bin 0
    is the all-zeros code, bin :math:`1 + (k-1)P + \rho` the uniform code with
    :math:`k \in [1, P-1]` ones rotated by :math:`\rho \in [0, P-1]`, bin
    :math:`P(P-1)+1` the all-ones code and bin :math:`P(P-1)+2` every non-uniform code.

    Args:
      neighbours: ``P`` in ``[2, 16]``.

    Returns:
      ``[2**P]`` int32 NumPy array (read-only) with values in ``[0, P(P-1)+3)``.

    Raises:
      ValueError: if ``neighbours`` is not an integer in ``[2, 16]``.

    Examples:
      >>> t = nri_uniform_table(8)
      >>> int(t[0]), int(t[0b11111111]), int(t[0b01010101]), len(set(t.tolist()))
      (0, 57, 58, 59)

    References:
      Ahonen, Hadid & Pietikäinen, "Face description with local binary
      patterns: application to face recognition", IEEE TPAMI 28(12), 2006.
    """
    return _nri_uniform_table(_check_neighbours(neighbours))


def _nri_uniform_map(code: jax.Array, p: int) -> jax.Array:
    """:func:`nri_uniform_table` computed with bit operations (no gather).

    ``code ^ rotl(code)`` has one bit per circular 0/1 transition; for a
    uniform code with ``0 < k < P`` ones, ``code & ~rotl(code)`` keeps only the
    first one of the run, whose position ``s`` gives the rotation ``(P - s) mod P``.
    A table lookup per voxel is a gather, which costs more on CPU than all the
    sampling of a plane.
    """
    full = (1 << p) - 1
    rotl = ((code << 1) | (code >> (p - 1))) & full
    transitions = jax.lax.population_count(code ^ rotl)
    ones = jax.lax.population_count(code)
    start = code & ~rotl & full
    s = jax.lax.population_count(start - 1)  # index of the single set bit
    bins = 1 + (ones - 1) * p + (p - s) % p
    bins = jnp.where(ones == 0, 0, bins)
    bins = jnp.where(ones == p, p * (p - 1) + 1, bins)
    return jnp.where(transitions <= 2, bins, p * (p - 1) + 2)


# --------------------------------------------------------------------------- checks


def _check_neighbours(neighbours: int) -> int:
    if isinstance(neighbours, bool) or not isinstance(neighbours, (int, np.integer)):
        raise ValueError(
            f"`neighbours` must be an integer in [2, {_MAX_NEIGHBOURS}], got {neighbours!r}."
        )
    if not 2 <= int(neighbours) <= _MAX_NEIGHBOURS:
        raise ValueError(
            f"`neighbours` must be in [2, {_MAX_NEIGHBOURS}] (the code table has 2**P "
            f"entries), got {neighbours}."
        )
    return int(neighbours)


def _check_radius(r: float, name: str) -> float:
    try:
        value = float(r)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a positive finite number, got {r!r}.") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"`{name}` must be a positive finite number, got {r!r}.")
    return value


def _check_grids(grids: Sequence[int]) -> tuple[int, ...]:
    if isinstance(grids, (int, np.integer)) or not isinstance(grids, Sequence | np.ndarray):
        raise ValueError(f"`grids` must be a sequence of positive integers, got {grids!r}.")
    out = []
    for g in grids:
        if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 1:
            raise ValueError(
                f"`grids` must hold positive integers (g splits the face into g x g "
                f"blocks), got {tuple(grids)!r}."
            )
        out.append(int(g))
    if not out:
        raise ValueError("`grids` is empty; give at least one grid size, e.g. (1, 2, 4, 8).")
    return tuple(out)


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _as_volume(x: ArrayLike, name: str, ndim: int) -> jax.Array:
    """Validates rank, dtype and (when concrete) finiteness; returns a float array."""
    shape = tuple(np.shape(x))
    if len(shape) != ndim:
        layout = "[H, W] (one grayscale image)" if ndim == 2 else "[T, H, W] (one grayscale clip)"
        hint = " (vmap the function over a batch)" if len(shape) == ndim + 1 else ""
        raise ValueError(f"`{name}` must be {ndim}-D {layout}, got shape {shape}{hint}.")
    dtype = jnp.result_type(x)
    if jnp.issubdtype(dtype, jnp.complexfloating) or not (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    ):
        raise ValueError(
            f"`{name}` must hold real gray levels (float or integer), got dtype {dtype}."
        )
    if _is_concrete(x):
        values = np.asarray(x)
        if jnp.issubdtype(dtype, jnp.floating) and not np.all(np.isfinite(values)):
            bad = int(values.size - np.count_nonzero(np.isfinite(values)))
            raise ValueError(
                f"`{name}` (shape {shape}) holds {bad} NaN or infinite values; LBP codes "
                "compare gray levels, so clean or clip them first."
            )
    if jnp.issubdtype(dtype, jnp.integer):
        out_dtype = jnp.result_type(float)
    else:
        out_dtype = jnp.promote_types(dtype, jnp.float32)
    return jnp.asarray(x, out_dtype)


def _margin(radius: float) -> int:
    return math.ceil(radius)


def _check_size(shape, margins, names, name: str, minimum=(1, 1, 1)) -> tuple[int, ...]:
    valid = tuple(n - 2 * m for n, m in zip(shape, margins, strict=True))
    for n, m, v, axis, need in zip(shape, margins, valid, names, minimum, strict=True):
        if v < need:
            raise ValueError(
                f"`{name}` has {n} {axis} (shape {tuple(shape)}), too few for a border of "
                f"{m} on each side plus {need} coded position(s); give at least "
                f"{2 * m + need} {axis} or a smaller radius."
            )
    return valid


# --------------------------------------------------------------------------- sampling


def _offsets(p: int, r_row: float, r_col: float) -> list[tuple[float, float]]:
    angles = 2.0 * np.pi * np.arange(p, dtype=np.float64) / p
    rows = np.round(-r_row * np.sin(angles), 5)
    cols = np.round(r_col * np.cos(angles), 5)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def _axis_weights(start: int, size: int, offset: float):
    """Floor/ceil shifts and the per-index fractional weight, as scikit-image computes them."""
    pos = np.arange(start, start + size, dtype=np.float64) + offset
    lo = np.floor(pos)
    hi = np.ceil(pos)
    lo_shift = lo - np.arange(start, start + size)
    hi_shift = hi - np.arange(start, start + size)
    # With |offset| >= 1e-5 (5-decimal rounding) and sizes below ~1e10 the shifts are constant.
    if not (np.all(lo_shift == lo_shift[0]) and np.all(hi_shift == hi_shift[0])):
        raise ValueError(f"offset {offset} does not give one pixel shift along an axis of {size}")
    return int(lo_shift[0]), int(hi_shift[0]), pos - lo


def _window(vol: jax.Array, starts, sizes) -> jax.Array:
    limits = tuple(s + n for s, n in zip(starts, sizes, strict=True))
    return jax.lax.slice(vol, tuple(starts), limits)


def _plane_codes(vol, starts, sizes, row_axis, col_axis, offsets) -> jax.Array:
    """Raw LBP codes ``[sizes]`` int32 of one plane for every voxel of the valid window."""
    dtype = vol.dtype
    centre = _window(vol, starts, sizes)
    code = jnp.zeros(sizes, jnp.int32)
    for bit, (dr, dc) in enumerate(offsets):
        r_lo, r_hi, wr = _axis_weights(starts[row_axis], sizes[row_axis], dr)
        c_lo, c_hi, wc = _axis_weights(starts[col_axis], sizes[col_axis], dc)

        def corner(sr, sc, r_axis=row_axis, c_axis=col_axis):
            shifted = list(starts)
            shifted[r_axis] += sr
            shifted[c_axis] += sc
            return _window(vol, shifted, sizes)

        def bcast(w, axis):
            shape = [1] * len(sizes)
            shape[axis] = sizes[axis]
            return jnp.asarray(w.reshape(shape), dtype)

        if c_lo == c_hi:  # (1 - 0)·a + 0·a == a exactly
            top, bottom = corner(r_lo, c_lo), corner(r_hi, c_lo)
        else:
            one_c, w_c = bcast(1.0 - wc, col_axis), bcast(wc, col_axis)
            top = one_c * corner(r_lo, c_lo) + w_c * corner(r_lo, c_hi)
            bottom = one_c * corner(r_hi, c_lo) + w_c * corner(r_hi, c_hi)
        if r_lo == r_hi:
            value = top
        else:
            value = bcast(1.0 - wr, row_axis) * top + bcast(wr, row_axis) * bottom
        code = code | ((value - centre >= 0).astype(jnp.int32) << bit)
    return code


# --------------------------------------------------------------------------- LBP (2-D)


@functools.partial(jax.jit, static_argnames=("neighbours", "radius"))
def _lbp_codes(image: jax.Array, neighbours: int, radius: float) -> jax.Array:
    m = _margin(radius)
    h, w = image.shape
    vol = image[None]
    offsets = _offsets(neighbours, radius, radius)
    raw = _plane_codes(vol, (0, m, m), (1, h - 2 * m, w - 2 * m), 1, 2, offsets)
    return _nri_uniform_map(jax.lax.optimization_barrier(raw[0]), neighbours)


def lbp(image: ArrayLike, *, neighbours: int = 8, radius: float = 1.0) -> jax.Array:
    r"""Rotation-variant uniform LBP codes of one grayscale image.

    For every pixel ``c`` at least :math:`\lceil R\rceil` from each border,

    .. math::

        \text{LBP}_{P,R}(c) = u\Big(\sum_{p=0}^{P-1} 2^p\,[g_p \ge g_c]\Big),
        \qquad g_p = I\big(y_c - R\sin\tfrac{2\pi p}{P},\; x_c + R\cos\tfrac{2\pi p}{P}\big),

    with :math:`I` read by bilinear interpolation and :math:`u` the
    rotation-variant uniform mapping of :func:`nri_uniform_table` (59 bins for
    ``P = 8``). The codes equal
    ``skimage.feature.local_binary_pattern(image, P, R, method="nri_uniform")``
    with its outer ``ceil(R)`` rows and columns removed (scikit-image pads with
    zeros there; we skip them). Ties: a diagonal neighbour that interpolates to
    exactly the centre's value (flat integer patches) is rounded like
    scikit-image in float64, except where XLA fuses a multiply-add (FMA): on a
    128 x 128 uint8 camera image 3 of 14,884 codes differ at ``R = 2.5``, none
    at ``R = 1`` or ``3``. With float32 (JAX's default without x64) such ties
    may break either way; on non-flat data the codes agree exactly.

    Args:
      image: ``[H, W]`` gray levels, float or integer.
      neighbours: ``P`` in ``[2, 16]``; ``P = 8`` is the usual choice.
      radius: ``R > 0``, the circle's radius in pixels.

    Returns:
      ``[H - 2⌈R⌉, W - 2⌈R⌉]`` int32 codes in ``[0, P(P-1)+3)``.

    Raises:
      ValueError: if ``image`` is not 2-D, not real, holds NaN/inf (checked when
        concrete), or is smaller than ``2⌈R⌉ + 1`` along an axis; if
        ``neighbours`` or ``radius`` are out of range.

    Examples:
      >>> import numpy as np
      >>> img = np.arange(25, dtype=np.float32).reshape(5, 5)
      >>> lbp(img).shape, int(lbp(img)[1, 1])
      ((3, 3), 28)

    References:
      Ojala, Pietikäinen & Mäenpää, "Multiresolution gray-scale and rotation
      invariant texture classification with local binary patterns", IEEE TPAMI
      24(7), 2002.
    """
    p = _check_neighbours(neighbours)
    r = _check_radius(radius, "radius")
    img = _as_volume(image, "image", 2)
    m = _margin(r)
    _check_size(img.shape, (m, m), ("rows", "columns"), "image", (1, 1))
    return _lbp_codes(img, p, r)


def lbp_histogram(
    image: ArrayLike, *, neighbours: int = 8, radius: float = 1.0, normalize: bool = True
) -> jax.Array:
    r"""Histogram of the :func:`lbp` codes of one image.

    .. math::

        h_b = \frac{1}{Z}\,\#\{c : \text{LBP}_{P,R}(c) = b\},\qquad
        Z = \text{number of coded pixels (1 when } \texttt{normalize=False}).

    Args:
      image: ``[H, W]`` gray levels.
      neighbours: ``P`` in ``[2, 16]``.
      radius: ``R > 0``.
      normalize: divide by the number of coded pixels so the histogram sums to 1.

    Returns:
      ``[P(P-1)+3]`` float32 (59 bins for ``P = 8``), bin ``b`` as in :func:`nri_uniform_table`.

    Raises:
      ValueError: as :func:`lbp`.

    Examples:
      >>> import numpy as np
      >>> h = lbp_histogram(np.random.default_rng(0).random((16, 16)))
      >>> h.shape, round(float(h.sum()), 5)
      ((59,), 1.0)
    """
    codes = lbp(image, neighbours=neighbours, radius=radius)
    bins = nri_uniform_bins(neighbours)
    counts = jnp.sum(codes.reshape(-1, 1) == jnp.arange(bins), axis=0).astype(jnp.float32)
    return counts / codes.size if normalize else counts


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
