"""LBP, LBP-TOP and LBP-SIP against scikit-image and plain NumPy loops."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dalib.features import (
    block_grid_positions,
    block_groups,
    lbp,
    lbp_histogram,
    lbp_sip,
    lbp_top,
    nri_uniform_bins,
    nri_uniform_table,
)

skimage_feature = pytest.importorskip("skimage.feature")


def _skimage_lbp(image, p, r):
    with warnings.catch_warnings():  # float images: scikit-image warns about ties
        warnings.simplefilter("ignore")
        return skimage_feature.local_binary_pattern(image, p, r, method="nri_uniform")


# --------------------------------------------------------------------------- references


def _uniform_bin(bits):
    """Independent statement of the nri-uniform bins: the start of the run of ones."""
    p = len(bits)
    transitions = sum(bits[i] != bits[(i + 1) % p] for i in range(p))
    ones = sum(bits)
    if transitions > 2:
        return p * (p - 1) + 2
    if ones == 0:
        return 0
    if ones == p:
        return p * (p - 1) + 1
    start = next(i for i in range(p) if bits[i] == 1 and bits[i - 1] == 0)
    return 1 + (ones - 1) * p + (p - start) % p


def _bilinear(vol, point):
    """Value of ``vol`` (3-D) at a real ``point``, reading the corners one by one."""
    lo = [math.floor(v) for v in point]
    hi = [math.ceil(v) for v in point]
    frac = [v - f for v, f in zip(point, lo, strict=True)]
    # Two of the three coordinates are integers here, so this is a 2-D blend.
    axes = [a for a in range(3) if lo[a] != hi[a]]
    if not axes:
        return vol[tuple(lo)]
    if len(axes) == 1:
        (a,) = axes
        i0, i1 = list(lo), list(lo)
        i1[a] = hi[a]
        return (1 - frac[a]) * vol[tuple(i0)] + frac[a] * vol[tuple(i1)]
    ra, ca = axes  # row axis first (t before y before x), as scikit-image's (row, col)
    def at(r, c):
        idx = list(lo)
        idx[ra], idx[ca] = r, c
        return vol[tuple(idx)]
    top = (1 - frac[ca]) * at(lo[ra], lo[ca]) + frac[ca] * at(lo[ra], hi[ca])
    bottom = (1 - frac[ca]) * at(hi[ra], lo[ca]) + frac[ca] * at(hi[ra], hi[ca])
    return (1 - frac[ra]) * top + frac[ra] * bottom


def _cells(n, g):
    return [(i * n // g, (i + 1) * n // g) for i in range(g)]


def _loop_lbp_top(clip, radii, p, grids, normalize):
    """LBP-TOP with a Python loop over voxels, planes and neighbours."""
    vol = np.asarray(clip, np.float64)
    r_x, r_y, r_t = radii
    mt, my, mx = (math.ceil(r) for r in (r_t, r_y, r_x))
    t_n, h_n, w_n = vol.shape
    # plane -> (axis of rows, row radius, axis of columns, column radius)
    planes = [(1, r_y, 2, r_x), (0, r_t, 2, r_x), (0, r_t, 1, r_y)]
    angles = [2 * math.pi * k / p for k in range(p)]
    codes = np.zeros((3, t_n - 2 * mt, h_n - 2 * my, w_n - 2 * mx), np.int64)
    for t in range(mt, t_n - mt):
        for y in range(my, h_n - my):
            for x in range(mx, w_n - mx):
                centre = vol[t, y, x]
                for j, (ra, rr, ca, rc) in enumerate(planes):
                    bits = []
                    for a in angles:
                        point = [float(t), float(y), float(x)]
                        point[ra] += round(-rr * math.sin(a), 5)
                        point[ca] += round(rc * math.cos(a), 5)
                        bits.append(int(_bilinear(vol, point) - centre >= 0))
                    codes[j, t - mt, y - my, x - mx] = _uniform_bin(bits)
    n_bins = p * (p - 1) + 3
    out = []
    for g in grids:
        for y0, y1 in _cells(codes.shape[2], g):
            for x0, x1 in _cells(codes.shape[3], g):
                for j in range(3):
                    h = np.zeros(n_bins)
                    for c in codes[j, :, y0:y1, x0:x1].ravel():
                        h[c] += 1
                    out.append(h / h.sum() if normalize else h)
    return np.concatenate(out)


def _loop_lbp_sip(clip, grids, normalize):
    vol = np.asarray(clip, np.float64)
    t_n, h_n, w_n = vol.shape
    spatial = np.zeros((t_n - 2, h_n - 2, w_n - 2), np.int64)
    temporal = np.zeros_like(spatial)
    for t in range(1, t_n - 1):
        for y in range(1, h_n - 1):
            for x in range(1, w_n - 1):
                c = vol[t, y, x]
                around = [vol[t, y, x + 1], vol[t, y - 1, x], vol[t, y, x - 1], vol[t, y + 1, x]]
                spatial[t - 1, y - 1, x - 1] = sum(2**k for k, v in enumerate(around) if v >= c)
                before, after = vol[t - 1, y, x], vol[t + 1, y, x]
                temporal[t - 1, y - 1, x - 1] = (before >= c) + 2 * (after >= c)
    out = []
    for g in grids:
        for y0, y1 in _cells(h_n - 2, g):
            for x0, x1 in _cells(w_n - 2, g):
                for codes, n_bins in ((spatial, 16), (temporal, 4)):
                    h = np.bincount(codes[:, y0:y1, x0:x1].ravel(), minlength=n_bins)
                    h = h.astype(np.float64)
                    out.append(h / h.sum() if normalize else h)
    return np.concatenate(out)


def _face_like(size=64):
    """A smooth synthetic face: an oval, two eyes, brows, a mouth, shading and mild noise."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    img = 40 + 120 * np.exp(-((x / 0.7) ** 2 + (y / 0.9) ** 2) ** 2) + 20 * x
    for ex in (-0.35, 0.35):
        img -= 70 * np.exp(-(((x - ex) / 0.12) ** 2 + ((y + 0.2) / 0.06) ** 2))
        img -= 40 * np.exp(-(((x - ex) / 0.2) ** 2 + ((y + 0.38) / 0.03) ** 2))
    img -= 60 * np.exp(-((x / 0.3) ** 2 + ((y - 0.5) / 0.05) ** 2))
    img += np.random.default_rng(3).normal(0, 2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _camera(size=96):
    data = pytest.importorskip("skimage.data")
    transform = pytest.importorskip("skimage.transform")
    small = transform.resize(data.camera(), (size, size), anti_aliasing=True)
    return (small * 255).astype(np.uint8)


# --------------------------------------------------------------------------- mapping


@pytest.mark.parametrize("p", [4, 8, 12])
def test_nri_uniform_table_matches_run_start_definition(p):
    table = nri_uniform_table(p)
    want = [_uniform_bin([(code >> i) & 1 for i in range(p)]) for code in range(2**p)]
    np.testing.assert_array_equal(table, want)
    assert nri_uniform_bins(p) == p * (p - 1) + 3
    assert sorted(set(table.tolist())) == list(range(p * (p - 1) + 3))


def test_bit_operation_mapping_equals_table_for_every_p():
    from dalib.features._lbp import _nri_uniform_map

    mapped = jax.jit(_nri_uniform_map, static_argnums=1)
    codes = jnp.arange(2**16, dtype=jnp.int32)
    for p in (2, 3, 8, 11, 16):
        got = np.asarray(mapped(codes % 2**p, p))
        np.testing.assert_array_equal(got, np.tile(nri_uniform_table(p), 2 ** (16 - p)))


# --------------------------------------------------------------------------- LBP vs skimage


@pytest.mark.parametrize(("p", "r"), [(8, 1.0), (8, 2.0), (8, 3.0), (4, 1.0), (12, 2.5)])
def test_lbp_equals_skimage_on_random_images(p, r):
    image = np.random.default_rng(p).random((23, 31))
    m = math.ceil(r)
    want = _skimage_lbp(image, p, r)[m:-m, m:-m]
    got = np.asarray(lbp(image, neighbours=p, radius=r))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int32


@pytest.mark.parametrize("name", ["camera", "face"])
@pytest.mark.parametrize("r", [1.0, 3.0])
def test_lbp_histogram_equals_skimage_on_real_looking_images(name, r):
    image = _camera() if name == "camera" else _face_like()
    m = math.ceil(r)
    codes = _skimage_lbp(image, 8, r)[m:-m, m:-m].astype(np.int64)
    np.testing.assert_array_equal(np.asarray(lbp(image, radius=r)), codes)
    want = np.bincount(codes.ravel(), minlength=59)
    counts = np.asarray(lbp_histogram(image, radius=r, normalize=False))
    np.testing.assert_array_equal(counts, want)
    hist = np.asarray(lbp_histogram(image, radius=r))
    np.testing.assert_allclose(hist, want / want.sum(), rtol=1e-6)
    assert hist.shape == (59,)


def test_lbp_integer_and_float_inputs_agree():
    image = np.random.default_rng(1).integers(0, 256, (20, 20), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(lbp(image)), np.asarray(lbp(image.astype(float))))


# --------------------------------------------------------------------------- LBP-TOP


@pytest.mark.parametrize(
    ("radii", "p", "grids"),
    [((2.0, 1.5, 1.0), 8, (1, 2, 3)), ((1.0, 1.0, 1.0), 4, (2,))],
)
@pytest.mark.parametrize("normalize", [False, True])
def test_lbp_top_equals_numpy_loop(radii, p, grids, normalize):
    clip = np.random.default_rng(7).random((6, 11, 12))
    want = _loop_lbp_top(clip, radii, p, grids, normalize)
    got = np.asarray(lbp_top(clip, radii=radii, neighbours=p, grids=grids, normalize=normalize))
    assert got.dtype == np.float32
    assert got.shape == (sum(g * g for g in grids) * 3 * (p * (p - 1) + 3),)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_lbp_top_planes_are_skimage_lbp_of_slices():
    """XY, XT and YT codes are scikit-image's codes of frames, rows-by-time and columns-by-time."""
    clip = np.random.default_rng(2).random((9, 10, 11))
    m = 2
    xy = np.stack([_skimage_lbp(clip[t], 8, 2.0) for t in range(9)])
    xt = np.stack([_skimage_lbp(clip[:, y, :], 8, 2.0) for y in range(10)], axis=1)
    yt = np.stack([_skimage_lbp(clip[:, :, x], 8, 2.0) for x in range(11)], axis=2)
    inner = (slice(m, -m),) * 3
    want = [np.bincount(c[inner].astype(int).ravel(), minlength=59) for c in (xy, xt, yt)]
    got = np.asarray(lbp_top(clip, radii=(2.0, 2.0, 2.0), grids=(1,), normalize=False))
    np.testing.assert_array_equal(got, np.concatenate(want))


def test_lbp_top_layout_matches_block_groups_and_positions():
    clip = np.random.default_rng(4).random((7, 17, 15))
    grids = (1, 2, 3)
    feats = np.asarray(lbp_top(clip, radii=(1.0, 1.0, 1.0), grids=grids, normalize=False))
    groups = block_groups(grids)
    positions = block_grid_positions(grids)
    assert groups.shape == feats.shape and groups.dtype == np.int32
    assert np.all(np.diff(groups) >= 0) and np.all(np.bincount(groups) == 177)
    # XY histograms of a block = lbp codes of the coded frames inside that cell.
    frames = np.stack([np.asarray(lbp(clip[t])) for t in range(1, 6)])  # [5, 15, 13]
    for k, (g, row, col) in enumerate(positions):
        (y0, y1), (x0, x1) = _cells(15, g)[row], _cells(13, g)[col]
        want = np.bincount(frames[:, y0:y1, x0:x1].ravel(), minlength=59)
        np.testing.assert_array_equal(feats[groups == k][:59], want)
    first = [[1, 0, 0], [2, 0, 0], [2, 0, 1], [2, 1, 0], [2, 1, 1]]
    np.testing.assert_array_equal(positions[:5], first)


def test_lbp_top_default_size_and_normalisation():
    clip = np.random.default_rng(5).integers(0, 256, (10, 30, 30), dtype=np.uint8)
    f = np.asarray(lbp_top(clip))
    assert f.shape == (15045,)
    np.testing.assert_allclose(f.reshape(85, 3, 59).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(f, np.asarray(lbp_top(clip.astype(np.float64))))
    assert block_groups().shape == (15045,) and len(block_grid_positions()) == 85


def test_lbp_top_jit_and_vmap():
    clips = np.random.default_rng(6).random((3, 8, 14, 14))
    kwargs = dict(radii=(2.0, 2.0, 1.0), grids=(1, 2, 4))
    per_clip = np.stack([np.asarray(lbp_top(c, **kwargs)) for c in clips])
    jitted = jax.jit(lambda c: lbp_top(c, **kwargs))
    np.testing.assert_array_equal(np.asarray(jitted(clips[1])), per_clip[1])
    batched = jax.jit(jax.vmap(lambda c: lbp_top(c, **kwargs)))(jnp.asarray(clips))
    np.testing.assert_array_equal(np.asarray(batched), per_clip)
    sip = np.stack([np.asarray(lbp_sip(c, grids=(1, 2))) for c in clips])
    sip_batched = jax.vmap(lambda c: lbp_sip(c, grids=(1, 2)))(jnp.asarray(clips))
    np.testing.assert_array_equal(np.asarray(sip_batched), sip)


def test_vmap_nested_and_over_other_arguments():
    clips = jnp.asarray(np.random.default_rng(11).random((2, 3, 5, 8, 8)))
    nested = jax.vmap(jax.vmap(lambda c: lbp_sip(c, grids=(1, 2))))(clips)
    single = lbp_sip(clips[1, 2], grids=(1, 2))
    np.testing.assert_array_equal(np.asarray(nested[1, 2]), np.asarray(single))
    # The clip itself unbatched: the batching rule must not map over its frames.
    scaled = jax.vmap(lambda s: lbp_sip(clips[0, 0], grids=(1, 2)) * s)(jnp.arange(3.0))
    np.testing.assert_array_equal(np.asarray(scaled[2]), 2 * np.asarray(nested[0, 0]))


def test_lbp_eager_equals_jit():
    image = np.random.default_rng(9).random((7, 8))
    with jax.disable_jit():
        eager = np.asarray(lbp(image))
    np.testing.assert_array_equal(eager, np.asarray(lbp(image)))


@pytest.mark.slow
def test_lbp_top_and_sip_eager_equal_jit():
    clip = np.random.default_rng(10).random((5, 8, 8))
    kwargs = dict(radii=(1.0, 1.5, 1.0), grids=(1, 2))
    with jax.disable_jit():
        eager = np.asarray(lbp_top(clip, **kwargs)), np.asarray(lbp_sip(clip, grids=(1, 2)))
    np.testing.assert_allclose(eager[0], np.asarray(lbp_top(clip, **kwargs)), rtol=1e-6)
    np.testing.assert_allclose(eager[1], np.asarray(lbp_sip(clip, grids=(1, 2))), rtol=1e-6)


# --------------------------------------------------------------------------- LBP-SIP


@pytest.mark.parametrize("normalize", [False, True])
def test_lbp_sip_equals_numpy_loop(normalize):
    clip = np.random.default_rng(8).integers(0, 6, (6, 9, 10)).astype(np.float64)  # many ties
    got = np.asarray(lbp_sip(clip, grids=(1, 2, 3), normalize=normalize))
    want = _loop_lbp_sip(clip, (1, 2, 3), normalize)
    assert got.shape == (14 * 20,)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert block_groups((1, 2, 3), per_block=20).shape == got.shape


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: lbp_top(np.zeros((8, 8))), "clip"),
        (lambda: lbp_top(np.zeros((2, 8, 8, 8))), "clip"),
        (lambda: lbp_top(np.zeros((6, 20, 20))), "clip"),  # 6 frames < 2*3 + 1
        (lambda: lbp_top(np.zeros((10, 12, 12))), "grids"),  # 6 x 6 coded < 8 x 8 grid
        (lambda: lbp_top(np.full((10, 30, 30), np.nan)), "clip"),
        (lambda: lbp_top(np.zeros((10, 30, 30)), grids=(1, 0)), "grids"),
        (lambda: lbp_top(np.zeros((10, 30, 30)), grids=()), "grids"),
        (lambda: lbp_top(np.zeros((10, 30, 30)), grids=(1.5,)), "grids"),
        (lambda: lbp_top(np.zeros((10, 30, 30)), grids=4), "grids"),
        (lambda: lbp_top(np.zeros((10, 30, 30)), radii=(3.0, 3.0)), "radii"),
        (lambda: lbp_top(np.zeros((10, 30, 30)), radii=(3.0, -1.0, 3.0)), "radii"),
        (lambda: lbp_top(np.zeros((10, 30, 30)), neighbours=17), "neighbours"),
        (lambda: lbp_top(np.zeros((10, 30, 30), complex)), "clip"),
        (lambda: lbp_sip(np.zeros((3, 3, 3)), grids=(2,)), "grids"),
        (lambda: lbp_sip(np.zeros((2, 9, 9))), "clip"),
        (lambda: lbp_sip(np.array([[[np.inf]]] * 4).repeat(9, 1).repeat(9, 2)), "clip"),
        (lambda: lbp(np.zeros((4, 4, 4))), "image"),
        (lambda: lbp(np.zeros((2, 9))), "image"),
        (lambda: lbp(np.zeros((9, 9)), radius=0.0), "radius"),
        (lambda: lbp(np.zeros((9, 9)), neighbours=1), "neighbours"),
        (lambda: lbp_histogram(np.array([[np.nan] * 5] * 5)), "image"),
        (lambda: block_groups((1, -2)), "grids"),
        (lambda: block_groups((1, 2), per_block=0), "per_block"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call()
