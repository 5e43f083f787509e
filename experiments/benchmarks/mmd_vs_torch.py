"""Forward+backward time of multi-kernel MMD: dalib (JAX) against plain PyTorch.

Both sides compute the same formula, the DAN setting of the biased MMD:
pooled ``Z = [Xs; Xt]``, squared distances ``D``, ``base = mean(D)`` (no
gradient), ``K = sum_k exp(-D / (2 * 2^k * base))`` for k = -3..1, and
``mean(Kss) + mean(Ktt) - 2 mean(Kst)``; gradients with respect to both sets.
The PyTorch side is the straightforward implementation a researcher would
write; both run in this process, float32, on the CPU (or GPU if present).

    python -m experiments.benchmarks.mmd_vs_torch --n 2048 --dim 512 --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from dalib import kernels, losses

MULTIPLIERS = (0.125, 0.25, 0.5, 1.0, 2.0)


def torch_mmd(source, target):
    import torch

    z = torch.cat([source, target], dim=0)
    sq = (z * z).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)
    base = d2.detach().mean()
    k = sum(torch.exp(-d2 / (2.0 * m * base)) for m in MULTIPLIERS)
    n = source.shape[0]
    return k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean()


def time_it(fn, repeats: int) -> list[float]:
    fn()  # warm-up (compilation for JAX)
    fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048, help="samples per domain")
    parser.add_argument("--dim", type=int, default=512, help="feature dimension")
    parser.add_argument("--repeats", type=int, default=20, help="timed repetitions")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    xt = (rng.standard_normal((args.n, args.dim)) + 0.5).astype(np.float32)

    kernel = kernels.MultiGaussian(multipliers=MULTIPLIERS, bandwidth="mean")
    grad_fn = jax.jit(
        jax.value_and_grad(lambda s, t: losses.mmd(s, t, kernel=kernel), argnums=(0, 1))
    )
    js, jt = jnp.asarray(xs), jnp.asarray(xt)

    def run_jax():
        value, grads = grad_fn(js, jt)
        jax.block_until_ready(grads)
        return value

    device = "cuda" if torch.cuda.is_available() else "cpu"
    ts = torch.tensor(xs, device=device, requires_grad=True)
    tt = torch.tensor(xt, device=device, requires_grad=True)

    def run_torch():
        ts.grad = tt.grad = None
        value = torch_mmd(ts, tt)
        value.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        return value

    v_jax, v_torch = float(run_jax()), float(run_torch().detach())
    t_jax = time_it(run_jax, args.repeats)
    t_torch = time_it(run_torch, args.repeats)
    med_jax, med_torch = statistics.median(t_jax), statistics.median(t_torch)
    print(
        f"devices: jax={jax.devices()[0].platform} torch={device} "
        f"(torch {torch.__version__}, jax {jax.__version__}, threads {torch.get_num_threads()})"
    )
    print(
        f"n = m = {args.n}, d = {args.dim}, 5 Gaussian kernels, forward + backward, "
        f"median of {args.repeats}"
    )
    print(f"values: jax {v_jax:.6f}  torch {v_torch:.6f}")
    print(f"{'impl':<10}{'median ms':>12}{'min ms':>10}")
    print(f"{'dalib':<10}{1e3 * med_jax:>12.1f}{1e3 * min(t_jax):>10.1f}")
    print(f"{'pytorch':<10}{1e3 * med_torch:>12.1f}{1e3 * min(t_torch):>10.1f}")
    print(f"ratio torch/dalib (median): {med_torch / med_jax:.2f}")


if __name__ == "__main__":
    main()
