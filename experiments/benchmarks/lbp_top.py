"""LBP-TOP throughput: dalib (JAX, jit + vmap) against a NumPy loop and scikit-image per slice.

Three implementations of the same descriptor (P = 8, R_X = R_Y = R_T = 3,
59-bin nri-uniform codes, grids 1/2/4/8 = 85 blocks x 177 = 15,045 values,
voxels closer than 3 to a border skipped, histograms normalised per plane and
block):

* ``dalib``: ``jax.jit(jax.vmap(dalib.features.lbp_top))`` on batches of
  ``--batch`` clips (on CPU the batching rule of ``lbp_top`` runs the clips one
  after another inside the compiled program); compile time is measured once, apart.
* ``numpy-loop``: plain Python/NumPy with nothing vectorised: a loop over
  voxels, planes and neighbours with explicit bilinear interpolation.
* ``skimage``: ``skimage.feature.local_binary_pattern(..., "nri_uniform")`` on
  every XY, XT and YT slice of the clip (compiled Cython), then the block
  histograms with ``np.bincount``.

Clips are random uint8 volumes ``T x H x W`` (``--sizes``; default: the dalib
micro-expression pipeline's 16 frames of 112 x 112 faces, and 30 x 64 x 64).
Timings are medians (min/max) over ``--repeats``; ``os.getloadavg()`` is printed
before and after each size, since the machine may be shared. The script also
reports how far dalib's features are from scikit-image's on one clip (float32
against float64 interpolation: exact ties of interpolated neighbours may
break differently).

    python -m experiments.benchmarks.lbp_top
    python -m experiments.benchmarks.lbp_top --sizes 30x64x64 --batch 64 --loop-repeats 0
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from dalib.features import lbp_top, nri_uniform_table

P, R, GRIDS = 8, 3.0, (1, 2, 4, 8)


def _cells(n: int, g: int) -> list[tuple[int, int]]:
    return [(i * n // g, (i + 1) * n // g) for i in range(g)]


def _histograms(codes: list[np.ndarray]) -> np.ndarray:
    """Codes of the three planes over the coded region -> the normalised block histograms."""
    _, h, w = codes[0].shape
    out = []
    for g in GRIDS:
        for y0, y1 in _cells(h, g):
            for x0, x1 in _cells(w, g):
                for c in codes:
                    hist = np.bincount(c[:, y0:y1, x0:x1].ravel(), minlength=59)
                    out.append(hist / hist.sum())
    return np.concatenate(out).astype(np.float32)


def numpy_loop_lbp_top(clip: np.ndarray) -> np.ndarray:
    """Reference with nothing vectorised: every voxel, plane and neighbour in Python."""
    vol = clip.astype(np.float64)
    t_n, h_n, w_n = vol.shape
    m = math.ceil(R)
    table = nri_uniform_table(P)
    offsets = [
        (round(-R * math.sin(2 * math.pi * p / P), 5), round(R * math.cos(2 * math.pi * p / P), 5))
        for p in range(P)
    ]

    def sample(t, y, x, plane, dr, dc):
        # (row, column) axes: XY (y, x), XT (t, x), YT (t, y)
        pos = [float(t), float(y), float(x)]
        ra, ca = ((1, 2), (0, 2), (0, 1))[plane]
        pos[ra] += dr
        pos[ca] += dc
        r0, r1 = math.floor(pos[ra]), math.ceil(pos[ra])
        c0, c1 = math.floor(pos[ca]), math.ceil(pos[ca])
        fr, fc = pos[ra] - r0, pos[ca] - c0
        idx = [t, y, x]

        def at(r, c):
            idx[ra], idx[ca] = r, c
            return vol[idx[0], idx[1], idx[2]]

        top = (1 - fc) * at(r0, c0) + fc * at(r0, c1)
        bottom = (1 - fc) * at(r1, c0) + fc * at(r1, c1)
        return (1 - fr) * top + fr * bottom

    codes = [np.zeros((t_n - 2 * m, h_n - 2 * m, w_n - 2 * m), np.int64) for _ in range(3)]
    for t in range(m, t_n - m):
        for y in range(m, h_n - m):
            for x in range(m, w_n - m):
                centre = vol[t, y, x]
                for plane in range(3):
                    code = 0
                    for p, (dr, dc) in enumerate(offsets):
                        if sample(t, y, x, plane, dr, dc) - centre >= 0:
                            code += 1 << p
                    codes[plane][t - m, y - m, x - m] = table[code]
    return _histograms(codes)


def skimage_lbp_top(clip: np.ndarray) -> np.ndarray:
    """scikit-image's LBP on every XY, XT and YT slice, then the block histograms."""
    from skimage.feature import local_binary_pattern

    t_n, h_n, w_n = clip.shape
    m = math.ceil(R)
    xy = np.stack([local_binary_pattern(clip[t], P, R, "nri_uniform") for t in range(t_n)])
    xt = np.stack([local_binary_pattern(clip[:, y], P, R, "nri_uniform") for y in range(h_n)], 1)
    yt = np.stack([local_binary_pattern(clip[:, :, x], P, R, "nri_uniform") for x in range(w_n)], 2)
    inner = (slice(m, t_n - m), slice(m, h_n - m), slice(m, w_n - m))
    return _histograms([c[inner].astype(np.int64) for c in (xy, xt, yt)])


def _times(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(time.perf_counter() - start)
    return out


def _rate(n_clips: int, times: list[float]) -> tuple[float, float, float]:
    """Clips per second: median, min, max over the repeats."""
    return n_clips / statistics.median(times), n_clips / max(times), n_clips / min(times)


def _fmt(rate: tuple[float, float, float]) -> str:
    med, lo, hi = rate
    return f"{med:9.4g} clips/s (min {lo:.4g}, max {hi:.4g}; {1e3 / med:.4g} ms/clip)"


def _load() -> str:
    return "loadavg " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def run_size(shape: tuple[int, int, int], args) -> dict[str, float]:
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (args.batch, *shape), dtype=np.uint8)
    print(f"\nclip {shape[0]} x {shape[1]} x {shape[2]} (T x H x W), uint8; {_load()}")

    start = time.perf_counter()
    fn = jax.jit(jax.vmap(lbp_top)).lower(jnp.asarray(batch)).compile()
    compile_s = time.perf_counter() - start
    device_batch = jax.device_put(batch)
    fn(device_batch).block_until_ready()
    dalib_rate = _rate(args.batch, _times(lambda: fn(device_batch), args.repeats))
    print(f"  dalib      jit+vmap, batch {args.batch:3d}: {_fmt(dalib_rate)}; "
          f"compile {compile_s:.1f} s")

    one = batch[0]
    sk_rate = _rate(1, _times(lambda: skimage_lbp_top(one), args.repeats))
    print(f"  skimage    per slice:            {_fmt(sk_rate)}")
    rates = {"dalib": dalib_rate[0], "skimage": sk_rate[0]}
    if args.loop_repeats > 0:
        loop_rate = _rate(1, _times(lambda: numpy_loop_lbp_top(one), args.loop_repeats))
        print(f"  numpy-loop voxel by voxel:       {_fmt(loop_rate)}")
        rates["numpy-loop"] = loop_rate[0]

    ours = np.asarray(fn(device_batch)[0])
    ref = skimage_lbp_top(one)
    print(f"  max |dalib - skimage| over the 15,045 values: {np.abs(ours - ref).max():.2e}")
    fastest = max((k for k in rates if k != "dalib"), key=rates.get)
    ratio = rates["dalib"] / rates[fastest]
    print(f"  speed-up over the faster baseline ({fastest}): {ratio:.1f}x; {_load()}")
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16x112x112,30x64x64", help="TxHxW,...")
    parser.add_argument("--batch", type=int, default=32, help="clips per vmapped call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=1, help="0 skips the NumPy loop")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*floating-point images.*")
    print(
        f"{jax.devices()[0].platform} x{jax.device_count()}, {os.cpu_count()} CPU cores, "
        f"P={P}, R={R}, grids={GRIDS}, repeats={args.repeats}"
    )
    for size in args.sizes.split(","):
        t, h, w = (int(v) for v in size.lower().split("x"))
        run_size((t, h, w), args)


if __name__ == "__main__":
    main()
