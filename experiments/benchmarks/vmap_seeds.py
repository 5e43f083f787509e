"""Many trainings at once: one program vmapped over seeds against the seeds run one by one.

For each method the whole training (``dalib.train.train``: init + a ``lax.scan``
over the steps, minibatches drawn inside) is compiled twice: vmapped over
``--seeds`` keys, and for a single key (then called once per seed). Both are
compiled before timing; each timing is the median of ``--repeats``. On the
toy data the script also prints each method's target accuracy over the seeds
(target labels are read only for that score).

Data: ``moons`` is the toy shift of the tests (two moons, target rotated by
``--angle`` degrees; MLP 2-32-32; Adam 1e-2); ``features`` imitates openSMILE
IS09 functionals (384-d, 4 classes, a linearly distorted and shifted target;
MLP 384-256-128 with LayerNorm; Adam 1e-3), a throughput workload only.
MMD has weight 1; DANN the weight schedule of Ganin et al. (``dann_schedule``).

    python -m experiments.benchmarks.vmap_seeds --seeds 8 --steps 500
    python -m experiments.benchmarks.vmap_seeds --data features --methods dann
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dalib import metrics, ops
from dalib import train as T
from dalib.nn import DomainDiscriminator, MLPEncoder
from experiments.benchmarks._data import functionals


def two_moons(n: int, seed: int, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(
        y[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], 1),
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1),
    )
    x = x - np.array([0.5, 0.25]) + 0.1 * rng.normal(size=(n, 2))
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (x @ rot.T).astype(np.float32), y.astype(np.int32)


def make_data(kind: str, angle: float):
    if kind == "moons":
        (xs, ys), (xt, yt) = two_moons(300, 0, 0.0), two_moons(300, 1, angle)
        return xs, ys, xt, yt, (32, 32), 2, 1e-2
    (xs, ys), (xt, yt) = functionals(1000, 0, 0.0), functionals(1000, 1, 1.0)
    return xs, ys, xt, yt, (256, 128), 4, 1e-3


def build(
    method: str, data: T.Batch, hidden, classes: int, batch: int, steps: int, lr: float
) -> T.Trainer:
    d_in, d = data.source_inputs.shape[1], hidden[-1]
    encoder = T.from_nnx(lambda r: MLPEncoder(d_in, hidden, layer_norm=d_in > 2, rngs=r))
    classifier = T.from_nnx(lambda r: nnx.Linear(d, classes, rngs=r))
    disc = T.from_nnx(lambda r: DomainDiscriminator(d, hidden=(d,), dropout=0.0, rngs=r))
    terms, mode = [], "gradient_reversal"
    if method == "mmd":
        terms = [T.MMD(weight=1.0)]
    elif method in ("dann", "dann_alternating"):
        terms = [T.DomainAdversarial(network=disc, weight=ops.dann_schedule(total_steps=steps))]
        mode = "alternating" if method == "dann_alternating" else mode
    elif method != "source_only":
        raise ValueError(f"unknown method {method!r}")
    example = T.sample_batch(data, jax.random.key(0), batch_size=batch)
    return T.make_trainer(
        encoder=encoder,
        classifier=classifier,
        optimizer=optax.adam(lr),
        example_batch=example,
        terms=terms,
        mode=mode,
    )


def timed(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--methods", default="source_only,mmd,dann,dann_alternating")
    parser.add_argument("--data", choices=("moons", "features"), default="moons")
    parser.add_argument("--angle", type=float, default=35.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    xs, ys, xt, yt, hidden, classes, lr = make_data(args.data, args.angle)
    data = T.Batch(xs, ys, xt)
    keys = jax.random.split(jax.random.key(0), args.seeds)
    total = args.seeds * args.steps
    print(
        f"{jax.devices()[0].platform} x{jax.device_count()}, data={args.data}, "
        f"seeds={args.seeds}, steps={args.steps}, batch={args.batch_size}"
    )
    header = (
        f"{'method':<17}{'compile v/s [s]':>17}{'vmapped [steps/s]':>19}"
        f"{'sequential [steps/s]':>22}{'ratio':>7}  target accuracy (mean ± std)"
    )
    print(header)
    for method in args.methods.split(","):
        trainer = build(method, data, hidden, classes, args.batch_size, args.steps, lr)
        run = functools.partial(
            T.train, trainer, data, num_steps=args.steps, batch_size=args.batch_size
        )
        t0 = time.perf_counter()
        vmapped = jax.jit(jax.vmap(run)).lower(keys).compile()
        t1 = time.perf_counter()
        single = jax.jit(run).lower(keys[0]).compile()
        t2 = time.perf_counter()

        def sequential(single=single):
            return [single(k) for k in keys]

        t_v = statistics.median(timed(vmapped, keys) for _ in range(args.repeats))
        t_s = statistics.median(timed(sequential) for _ in range(args.repeats))
        accuracy = ""
        if args.data == "moons":
            states, _ = vmapped(keys)
            forward = jax.jit(jax.vmap(trainer.forward, in_axes=(0, None)))
            _, logits = forward(states.params, jnp.asarray(xt))
            acc = np.array([float(metrics.war(yt, p)) for p in jnp.argmax(logits, -1)])
            accuracy = f"{acc.mean():.3f} ± {acc.std():.3f}"
        print(
            f"{method:<17}{f'{t1 - t0:.1f}/{t2 - t1:.1f}':>17}{total / t_v:>19.0f}"
            f"{total / t_s:>22.0f}{t_s / t_v:>7.2f}  {accuracy}"
        )


if __name__ == "__main__":
    main()
