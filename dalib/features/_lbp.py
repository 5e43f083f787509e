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
    "lbp",
    "lbp_histogram",
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
