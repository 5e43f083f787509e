"""MMD on large samples, tile by tile: time and peak memory of ``mmd(..., block_size=b)``.

The dense estimator forms the pooled ``[n+m, n+m]`` Gram matrix; with
``block_size=b`` the same value is computed from ``[b, b]`` tiles inside one
``lax.scan``, so memory stays at O(b² + (n+m)d). This script draws
``source ~ N(0, I_d)`` and ``target ~ N(shift, I_d)``, compiles
``jit(mmd(..., block_size=b))`` ahead of time, runs it once, and prints the
value, compile and run wall times, the process's peak resident memory
(``ru_maxrss``), and the memory the dense path's Gram matrix alone would need.
With ``--check`` it also runs the dense path on the same data (small sizes only)
and prints the relative difference.

    python -m experiments.benchmarks.mmd_tiled                      # n = m = 200,000, d = 64
    python -m experiments.benchmarks.mmd_tiled --n 2000 --m 1500 --check
    python -m experiments.benchmarks.mmd_tiled --n 50000 --kernel dan --block-size 2048
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from dalib.kernels import Gaussian, InverseMultiquadric, Laplacian, MultiGaussian
from dalib.losses import mmd


def make_kernel(name: str, bandwidth: float):
    if name == "gaussian":
        return Gaussian(bandwidth=bandwidth)
    if name == "laplacian":
        return Laplacian(bandwidth=bandwidth)
    if name == "imq":
        return InverseMultiquadric(scale=bandwidth)
    if name == "dan":  # data-driven "mean" rule: O(N d), fine with tiles
        return MultiGaussian.dan()
    if name == "dsan":
        return MultiGaussian.dsan()
    raise ValueError(f"unknown kernel {name!r}")


def gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.2f} GiB"


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="source samples")
    parser.add_argument("--m", type=int, default=None, help="target samples (default: n)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument(
        "--kernel", default="gaussian", choices=["gaussian", "laplacian", "imq", "dan", "dsan"]
    )
    parser.add_argument(
        "--bandwidth", type=float, default=None, help="fixed bandwidth (default: sqrt(dim))"
    )
    parser.add_argument("--estimator", default="unbiased", choices=["biased", "unbiased"])
    parser.add_argument("--shift", type=float, default=0.05, help="target mean shift per axis")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="also run the dense path")
    parser.add_argument("--x64", action="store_true", help="float64 (reference for float32)")
    parser.add_argument(
        "--grad", action="store_true", help="time value_and_grad in source and target instead"
    )
    args = parser.parse_args()
    if args.x64:
        jax.config.update("jax_enable_x64", True)

    n, m, d, b = args.n, args.m or args.n, args.dim, args.block_size
    kernel = make_kernel(args.kernel, args.bandwidth or math.sqrt(d))
    rng = np.random.default_rng(args.seed)
    dtype = np.float64 if args.x64 else np.float32
    source = rng.standard_normal((n, d), dtype=np.float32).astype(dtype)
    target = (rng.standard_normal((m, d), dtype=np.float32) + np.float32(args.shift)).astype(dtype)
    source, target = jax.device_put(source), jax.device_put(target)

    tiles_x, tiles_y = -(-n // b), -(-m // b)
    tiles = tiles_x * (tiles_x + 1) // 2 + tiles_y * (tiles_y + 1) // 2 + tiles_x * tiles_y
    dense_gram = (n + m) ** 2 * source.dtype.itemsize
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform} ({jax.device_count()} device, "
        f"{source.dtype}); n={n:,} m={m:,} d={d}"
    )
    print(f"kernel={kernel!r} estimator={args.estimator} block_size={b}")
    print(f"tiles visited: {tiles:,} of {b}x{b} ({tiles * b * b:.3e} kernel entries)")
    print(f"dense path would need >= {gib(dense_gram)} for the pooled Gram matrix alone")
    print(f"tile working set ~ {gib(4 * b * b * source.dtype.itemsize)} (a few [b, b] buffers)")

    def loss(s, t):
        return mmd(s, t, kernel=kernel, estimator=args.estimator, block_size=b)

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)) if args.grad else loss)
    start = time.perf_counter()
    compiled = fn.lower(source, target).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(source, target))
    run_s = time.perf_counter() - start
    value = float(out[0] if args.grad else out)
    if args.grad:
        norms = [float(jnp.linalg.norm(g)) for g in out[1]]
        print(f"value_and_grad: |d/d source| = {norms[0]:.3e}, |d/d target| = {norms[1]:.3e}")
    print(f"mmd^2 = {value:.6e}")
    print(f"compile {compile_s:.1f} s, run {run_s:.1f} s ({tiles * b * b / run_s:.3e} entries/s)")
    print(f"peak RSS {gib(peak_rss_bytes())}")

    if args.check:
        start = time.perf_counter()
        dense = float(mmd(source, target, kernel=kernel, estimator=args.estimator))
        dense_s = time.perf_counter() - start
        rel = abs(value - dense) / max(abs(dense), 1e-30)
        print(f"dense mmd^2 = {dense:.6e} ({dense_s:.1f} s); relative difference {rel:.2e}")
        print(f"peak RSS after the dense run {gib(peak_rss_bytes())}")


if __name__ == "__main__":
    main()
