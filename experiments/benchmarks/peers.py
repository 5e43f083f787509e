"""dalib against its peers, each framework in its own process, pinned to the same cores.

Cases
  * ``mmd``: multi-kernel MMD forward + backward (gradients for both sets),
    float32, at ``n = m = 512, d = 256`` and ``n = m = 2048, d = 512``. Beside
    every figure: its multiple of the *two-GEMM floor* measured in the same run,
    ``2 x`` the time of one ``(n+m) x d x (n+m)`` float32 matmul (the forward
    needs one such GEMM, the backward one more). The floor is the faster of the
    JAX and PyTorch GEMM, each timed in its own process like everything else.
  * ``dan`` / ``dann``: a whole training of ``--steps`` steps (MLP 384-256-128
    with LayerNorm and ReLU, linear classifier to 4 classes, batch 64 + 64,
    Adam 1e-3; DAN: biased MK-MMD with the DAN kernel on the features, weight 1;
    DANN: discriminator 128-128-1 behind gradient reversal with the schedule of
    Ganin et al.). dalib runs ``dalib.train.train`` under ``jax.jit`` (one
    compiled ``lax.scan``); PyTorch a plain loop. Reported: import time, compile
    time (dalib), the steady-state time of a whole training (median over runs
    of the already compiled program), and *end to end*: model build + compile +
    the first training, in a fresh process (imports excluded, listed apart).
    ``dalib-cached`` is the same dalib training with JAX's persistent
    compilation cache (:func:`dalib.train.enable_compilation_cache`) filled by
    one untimed process beforehand: what a researcher sees from the second run
    of a script on. Its "compile" is the load from the cache.

Frameworks
  * ``dalib``: ``dalib.losses.mmd(..., kernel=MultiGaussian.dan(),
    estimator="unbiased")`` under ``jax.jit(jax.value_and_grad)``.
  * ``tllib``: *TLlib's formula*, a script of ours in PyTorch that follows the
    structure of TLlib's ``MultipleKernelMaximumMeanDiscrepancy`` with five
    ``GaussianKernel(alpha=2**k)``, ``k = -3..1`` (each kernel computes its own
    squared distances and ``sigma^2 = alpha * mean(D)``; the kernel matrices are
    summed, multiplied by the cached index matrix and summed, plus ``2/(n-1)``).
    Where TLlib builds an ``N x N x d`` difference tensor we use ``torch.cdist``
    (the tensor needs 32 GiB at 2048/512); the index matrix is built vectorised
    (TLlib loops in Python), once, and cached as TLlib does.
  * ``pytorch-adapt``: ``pytorch_adapt.layers.MMDLoss(kernel_scales=2**k,
    mmd_type="quadratic")``, its other settings at their defaults.
  * ``skada``: ``skada.deep.losses.dan_loss`` with its defaults (33 kernels).
  * ``torch``: the PyTorch training loops (and the PyTorch GEMM for the floor).

The peers compute different kernel sets and bandwidth rules, so the MMD rows
are what a user of each library gets, not the same arithmetic. Rounds are
interleaved (A B C A B C ...); each worker process warms up, then times
``--reps`` calls; the table gives the median over all timed calls of all
rounds with min and max. The load average is recorded before and after.

    pip install -e ".[bench]"
    python -m experiments.benchmarks.peers                  # everything (minutes)
    python -m experiments.benchmarks.peers --quick          # smoke run
    python -m experiments.benchmarks.peers --json out.json  # also write the figures
    python -m experiments.benchmarks.peers --docs docs/performance.md  # refresh the page

pytorch-adapt imports torchmetrics, which probes torchvision; PyPI's torchvision
wheel does not match the CPU torch build, so the worker blocks the torchvision
import (``MMDLoss`` does not use it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

MMD_SIZES = {"mmd-512x256": (512, 256), "mmd-2048x512": (2048, 512)}
TRAIN_CASES = ("dan", "dann")
MMD_FRAMEWORKS = ("dalib", "tllib", "pytorch-adapt", "skada")
TRAIN_FRAMEWORKS = ("dalib", "dalib-cached", "torch")
# module each framework needs -> the package that provides it
REQUIRES = {
    "dalib": ["jax"],
    "dalib-cached": ["jax"],
    "tllib": ["torch"],
    "torch": ["torch"],
    "pytorch-adapt": ["torch", "pytorch_adapt"],
    "skada": ["torch", "skada", "skorch"],
}
INSTALL_HINT = 'pip install -e ".[bench]"'


# ----------------------------------------------------------------------------- workers
# Everything below runs in a child process; the parent never imports jax or torch.


def _pin(cores: list[int], threads: int) -> None:
    os.sched_setaffinity(0, cores)
    del threads  # the thread counts are set through the environment by the parent


def _time_calls(fn, reps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _mmd_data(n: int, d: int):
    import numpy as np

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((n, d)).astype(np.float32)
    xt = (rng.standard_normal((n, d)) + 0.5).astype(np.float32)
    return xs, xt


def _torch_setup(threads: int):
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    return torch


def _worker_floor_jax(size: int, d: int, reps: int, threads: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    a = jnp.asarray(np.random.default_rng(0).standard_normal((size, d)).astype(np.float32))
    mm = jax.jit(lambda x: jnp.matmul(x, x.T))
    times = _time_calls(lambda: jax.block_until_ready(mm(a)), reps)
    return {"times": times}


def _worker_floor_torch(size: int, d: int, reps: int, threads: int) -> dict:
    torch = _torch_setup(threads)
    a = torch.randn(size, d)
    b = torch.randn(d, size)
    with torch.no_grad():
        times = _time_calls(lambda: torch.mm(a, b), reps)
    return {"times": times}


def _worker_mmd(framework: str, n: int, d: int, reps: int, threads: int) -> dict:
    xs, xt = _mmd_data(n, d)
    if framework == "dalib":
        import jax
        import jax.numpy as jnp

        from dalib import kernels, losses

        kernel = kernels.MultiGaussian.dan()
        fn = jax.jit(
            jax.value_and_grad(
                lambda s, t: losses.mmd(s, t, kernel=kernel, estimator="unbiased"), argnums=(0, 1)
            )
        )
        s, t = jnp.asarray(xs), jnp.asarray(xt)
        start = time.perf_counter()
        value = float(jax.block_until_ready(fn(s, t))[0])
        first = time.perf_counter() - start
        times = _time_calls(lambda: jax.block_until_ready(fn(s, t)), reps, warmup=1)
        return {"times": times, "value": value, "first_call": first}
    torch = _torch_setup(threads)
    if framework == "pytorch-adapt":
        sys.modules["torchvision"] = None  # see the module docstring
        from pytorch_adapt.layers import MMDLoss

        loss = MMDLoss(kernel_scales=2.0 ** torch.arange(-3, 2), mmd_type="quadratic")
    elif framework == "skada":
        from skada.deep.losses import dan_loss

        loss = dan_loss
    elif framework == "tllib":
        loss = _TLlibFormula(alphas=[2.0**k for k in range(-3, 2)])
    else:
        raise ValueError(framework)
    s = torch.tensor(xs, requires_grad=True)
    t = torch.tensor(xt, requires_grad=True)

    def call():
        s.grad = t.grad = None
        value = loss(s, t)
        value.backward()
        return value

    value = float(call().detach())
    times = _time_calls(call, reps, warmup=1)
    return {"times": times, "value": value}


class _TLlibFormula:
    """MK-MMD as TLlib computes it (our code, written from TLlib's published structure)."""

    def __init__(self, alphas):
        self.alphas = alphas
        self.index_matrix = None

    def _index(self, b: int):
        import torch

        if self.index_matrix is None or self.index_matrix.shape[0] != 2 * b:
            # TLlib's non-linear index matrix: 1/(b(b-1)) off the diagonal of the
            # source and target blocks, -1/b^2 in the cross blocks.
            same = torch.full((b, b), 1.0 / (b * (b - 1)))
            same.fill_diagonal_(0.0)
            cross = torch.full((b, b), -1.0 / (b * b))
            self.index_matrix = torch.cat(
                [torch.cat([same, cross], 1), torch.cat([cross, same], 1)], 0
            )
        return self.index_matrix

    def __call__(self, z_s, z_t):
        import torch

        features = torch.cat([z_s, z_t], dim=0)
        b = int(z_s.shape[0])
        index = self._index(b)
        kernel_matrix = 0
        for alpha in self.alphas:
            # TLlib: ((X.unsqueeze(0) - X.unsqueeze(1)) ** 2).sum(2); cdist instead.
            d2 = torch.cdist(features, features) ** 2
            sigma_square = alpha * torch.mean(d2.detach())
            kernel_matrix = kernel_matrix + torch.exp(-d2 / (2 * sigma_square))
        return (kernel_matrix * index).sum() + 2.0 / float(b - 1)


def _functionals(n: int, seed: int, shift: float):
    """384-d features imitating openSMILE functionals (as in vmap_seeds), 4 classes."""
    from experiments.benchmarks._data import functionals

    return functionals(n, seed, shift)


def _worker_train_dalib(
    method: str, steps: int, reps: int, threads: int, cache: str | None = None
) -> dict:
    t0 = time.perf_counter()
    import functools

    import jax
    import optax
    from flax import nnx

    from dalib import ops
    from dalib import train as T
    from dalib.nn import DomainDiscriminator, MLPEncoder

    imported = time.perf_counter() - t0
    if cache is not None:  # dalib-cached: JAX's persistent compilation cache, filled beforehand
        T.enable_compilation_cache(cache, min_compile_time_s=0.0)
    xs, ys = _functionals(1000, 0, 0.0)
    xt, _ = _functionals(1000, 1, 1.0)
    start = time.perf_counter()
    data = T.Batch(xs, ys, xt)
    encoder = T.from_nnx(lambda r: MLPEncoder(384, (256, 128), layer_norm=True, rngs=r))
    classifier = T.from_nnx(lambda r: nnx.Linear(128, 4, rngs=r))
    if method == "dan":
        terms = [T.MMD(weight=1.0)]
    else:
        disc = T.from_nnx(lambda r: DomainDiscriminator(128, hidden=(128,), dropout=0.0, rngs=r))
        terms = [T.DomainAdversarial(network=disc, weight=ops.dann_schedule(total_steps=steps))]
    trainer = T.make_trainer(
        encoder=encoder,
        classifier=classifier,
        optimizer=optax.adam(1e-3),
        example_batch=T.Batch(xs[:64], ys[:64], xt[:64]),  # as docs/training.md
        terms=terms,
    )
    run = jax.jit(functools.partial(T.train, trainer, data, num_steps=steps, batch_size=64))
    key = jax.random.key(0)
    built = time.perf_counter()
    compiled = run.lower(key).compile()
    compile_s = time.perf_counter() - built
    jax.block_until_ready(compiled(key))
    end_to_end = time.perf_counter() - start
    times = _time_calls(lambda: jax.block_until_ready(compiled(key)), reps, warmup=0)
    return {
        "times": times,
        "import": imported,
        "compile": compile_s,
        "end_to_end": end_to_end,
    }


def _worker_train_torch(method: str, steps: int, reps: int, threads: int) -> dict:
    t0 = time.perf_counter()
    torch = _torch_setup(threads)
    imported = time.perf_counter() - t0
    import math

    xs, ys = _functionals(1000, 0, 0.0)
    xt, _ = _functionals(1000, 1, 1.0)
    xs_t, ys_t, xt_t = torch.tensor(xs), torch.tensor(ys, dtype=torch.long), torch.tensor(xt)
    nn = torch.nn

    class GradReverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, coeff):
            ctx.coeff = coeff
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            return -ctx.coeff * grad, None

    def mk_mmd(fs, ft):
        # biased MK-MMD, DAN kernel (2^-3..2^1 of the detached mean distance), pooled Gram
        z = torch.cat([fs, ft])
        sq = (z * z).sum(1)
        d2 = (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)
        base = d2.detach().mean()
        k = sum(torch.exp(-d2 / (2.0 * (2.0**j) * base)) for j in range(-3, 2))
        b = fs.shape[0]
        return k[:b, :b].mean() + k[b:, b:].mean() - 2.0 * k[:b, b:].mean()

    def one_training() -> None:
        torch.manual_seed(0)
        encoder = nn.Sequential(
            nn.Linear(384, 256), nn.LayerNorm(256), nn.ReLU(),
            nn.Linear(256, 128), nn.LayerNorm(128), nn.ReLU(),
        )  # fmt: skip
        classifier = nn.Linear(128, 4)
        modules = [encoder, classifier]
        disc = None
        if method == "dann":
            disc = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
            modules.append(disc)
        params = [p for m in modules for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        bce = nn.functional.binary_cross_entropy_with_logits
        for step in range(steps):
            i = torch.randint(0, xs_t.shape[0], (64,))
            j = torch.randint(0, xt_t.shape[0], (64,))
            fs, ft = encoder(xs_t[i]), encoder(xt_t[j])
            loss = nn.functional.cross_entropy(classifier(fs), ys_t[i])
            if disc is None:
                loss = loss + mk_mmd(fs, ft)
            else:
                coeff = 2.0 / (1.0 + math.exp(-10.0 * step / steps)) - 1.0
                logits = disc(GradReverse.apply(torch.cat([fs, ft]), coeff)).squeeze(1)
                labels = torch.cat([torch.ones(64), torch.zeros(64)])
                loss = loss + bce(logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    start = time.perf_counter()
    one_training()
    end_to_end = time.perf_counter() - start
    times = _time_calls(one_training, reps, warmup=0)
    return {"times": times, "import": imported, "compile": 0.0, "end_to_end": end_to_end}


def _worker(spec: dict) -> dict:
    _pin(spec["cores"], spec["threads"])
    kind, fw, reps, threads = spec["kind"], spec["framework"], spec["reps"], spec["threads"]
    load = os.getloadavg()
    if kind == "floor":
        size, d = spec["size"], spec["d"]
        fn = _worker_floor_jax if fw == "dalib" else _worker_floor_torch
        out = fn(size, d, reps, threads)
    elif kind == "mmd":
        out = _worker_mmd(fw, spec["n"], spec["d"], reps, threads)
    else:
        if fw == "torch":
            out = _worker_train_torch(kind, spec["steps"], reps, threads)
        else:
            out = _worker_train_dalib(kind, spec["steps"], reps, threads, spec.get("cache"))
    out["load_at_start"] = load
    return out


# ----------------------------------------------------------------------------- parent


def _thread_env(threads: int) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    flags = env.get("XLA_FLAGS", "")
    # XLA's CPU thread pool takes its size from the schedulable cores, i.e. the pin.
    flags += f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
    env["XLA_FLAGS"] = flags.strip()
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # only dalib-cached uses a compilation cache
    return env


def _run_worker(spec: dict, env: dict) -> dict:
    cmd = [sys.executable, "-m", "experiments.benchmarks.peers", "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}"}
    return json.loads(lines[-1])


def _missing(frameworks) -> dict[str, list[str]]:
    out = {}
    for fw in frameworks:
        absent = [m for m in REQUIRES[fw] if importlib.util.find_spec(m) is None]
        if absent:
            out[fw] = absent
    return out


def _machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": model, "logical_cpus": os.cpu_count(), "python": platform.python_version()}


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("jax", "jaxlib", "torch", "skada", "pytorch-adapt", "dalib-jax"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _summary(times: list[float]) -> dict:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def run(args) -> dict:
    cores = sorted(os.sched_getaffinity(0)) if not args.cores else args.cores
    threads = args.threads or len(cores)
    env = _thread_env(threads)
    mmd_cases = [c for c in args.cases if c in MMD_SIZES]
    train_cases = [c for c in args.cases if c in TRAIN_CASES]
    result = {
        "command": "python -m experiments.benchmarks.peers " + " ".join(args.argv),
        "machine": _machine(),
        "versions": _versions(),
        "cores": cores,
        "threads": threads,
        "rounds": args.rounds,
        "reps": args.reps,
        "steps": args.steps,
        "load_before": os.getloadavg(),
        "mmd": {},
        "floor": {},
        "train": {},
        "skipped": args.skipped,
    }
    base = {"cores": cores, "threads": threads}
    for case in mmd_cases:
        n, d = MMD_SIZES[case]
        fws = [fw for fw in args.frameworks if fw in MMD_FRAMEWORKS]
        floor_fws = ["dalib"] + (["torch"] if "torch" in args.available else [])
        samples = {fw: [] for fw in fws}
        floor = {fw: [] for fw in floor_fws}
        info = {fw: {} for fw in fws}
        for _ in range(args.rounds):
            for fw in floor_fws:
                spec = {**base, "kind": "floor", "framework": fw, "size": 2 * n, "d": d,
                        "reps": args.reps}  # fmt: skip
                out = _run_worker(spec, env)
                floor[fw] += out.get("times", [])
            for fw in fws:
                spec = {**base, "kind": "mmd", "framework": fw, "n": n, "d": d,
                        "reps": args.reps}  # fmt: skip
                out = _run_worker(spec, env)
                if "error" in out:
                    info[fw]["error"] = out["error"]
                    continue
                samples[fw] += out["times"]
                info[fw]["value"] = out.get("value")
        gemm = {fw: _summary(t) for fw, t in floor.items() if t}
        best = min(v["median"] for v in gemm.values())
        result["floor"][case] = {"gemm": gemm, "two_gemm_floor": 2.0 * best}
        result["mmd"][case] = {
            fw: {**(_summary(t) if t else {}), **info[fw]} for fw, t in samples.items()
        }
        for row in result["mmd"][case].values():
            if "median" in row:
                row["x_floor"] = row["median"] / (2.0 * best)
    cache = tempfile.TemporaryDirectory(prefix="peers-jax-cache-")
    for case in train_cases:
        fws = [fw for fw in args.frameworks if fw in TRAIN_FRAMEWORKS]
        rows = {fw: {"times": [], "import": [], "compile": [], "end_to_end": []} for fw in fws}
        if "dalib-cached" in fws:  # one untimed process fills the cache
            spec = {**base, "kind": case, "framework": "dalib-cached", "steps": args.steps,
                    "reps": 1, "cache": cache.name}  # fmt: skip
            _run_worker(spec, env)
        for _ in range(args.rounds):
            for fw in fws:
                spec = {**base, "kind": case, "framework": fw, "steps": args.steps,
                        "reps": args.train_reps}  # fmt: skip
                if fw == "dalib-cached":
                    spec["cache"] = cache.name
                out = _run_worker(spec, env)
                if "error" in out:
                    rows[fw]["error"] = out["error"]
                    continue
                for key in ("times", "import", "compile", "end_to_end"):
                    value = out[key]
                    rows[fw][key] += value if isinstance(value, list) else [value]
        result["train"][case] = {
            fw: (
                {"error": r["error"]}
                if not r["times"]
                else {
                    "steady": _summary(r["times"]),
                    "import": statistics.median(r["import"]),
                    "compile": statistics.median(r["compile"]),
                    "end_to_end": _summary(r["end_to_end"]),
                }
            )
            for fw, r in rows.items()
        }
    cache.cleanup()
    result["load_after"] = os.getloadavg()
    return result


def _ms(x: float) -> str:
    return f"{1e3 * x:.1f}"


def markdown(result: dict) -> str:
    """The block for docs/performance.md."""
    m = result["machine"]
    lb, la = result["load_before"], result["load_after"]
    lines = [
        f"Command: `{result['command'].strip()}`  ",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; every process pinned to "
        f"cores {result['cores']} with {result['threads']} threads; "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        + ".  ",
        f"Load average (1/5/15 min) before: {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f}, "
        f"after: {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}.  ",
        f"{result['rounds']} interleaved rounds x {result['reps']} timed calls per process "
        "(MMD); medians with [min - max].",
    ]
    for fw, why in result.get("skipped", {}).items():
        lines.append(f"Skipped {fw}: {why}.")
    if result["mmd"]:
        lines += [
            "",
            "| MK-MMD fwd+bwd | framework | median [ms] | min - max [ms] | x two-GEMM floor "
            "| value |",
            "|---|---|---|---|---|---|",
        ]
        for case, rows in result["mmd"].items():
            fl = result["floor"][case]
            gemm = ", ".join(
                f"{'JAX' if fw == 'dalib' else 'PyTorch'} {_ms(v['median'])}"
                for fw, v in fl["gemm"].items()
            )
            n, d = MMD_SIZES[case]
            label = f"n = m = {n}, d = {d}"
            lines.append(
                f"| {label} | *two-GEMM floor* (GEMM {2 * n}x{d}x{2 * n} [ms]: {gemm}) "
                f"| {_ms(fl['two_gemm_floor'])} | | 1.00 | |"
            )
            for fw, r in rows.items():
                if "median" not in r:
                    lines.append(f"| {label} | {fw} | failed: {r.get('error', '?')} | | | |")
                    continue
                lines.append(
                    f"| {label} | {fw} | {_ms(r['median'])} | {_ms(r['min'])} - {_ms(r['max'])} "
                    f"| {r['x_floor']:.2f} | {r.get('value', float('nan')):.5f} |"
                )
    if result["train"]:
        lines += [
            "",
            f"| training ({result['steps']} steps) | framework | import [s] | compile [s] "
            "| steady state [s] (min - max) | end to end [s] (min - max) | steady steps/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for case, rows in result["train"].items():
            for fw, r in rows.items():
                if "steady" not in r:
                    lines.append(f"| {case} | {fw} | failed: {r.get('error', '?')} | | | | |")
                    continue
                st, e2e = r["steady"], r["end_to_end"]
                lines.append(
                    f"| {case.upper()} | {fw} | {r['import']:.2f} | {r['compile']:.2f} "
                    f"| {st['median']:.2f} ({st['min']:.2f} - {st['max']:.2f}) "
                    f"| {e2e['median']:.2f} ({e2e['min']:.2f} - {e2e['max']:.2f}) "
                    f"| {result['steps'] / st['median']:.0f} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        print(json.dumps(_worker(json.loads(argv[1]))), flush=True)
        return {}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--docs",
        metavar="PATH",
        help="replace the block between the peers markers in PATH (docs/performance.md)",
    )
    parser.add_argument("--cases", default=None, help="comma list (default: all)")
    parser.add_argument("--frameworks", default=None, help="comma list (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--reps", type=int, default=None, help="timed MMD calls per process")
    parser.add_argument("--train-reps", type=int, default=None, help="timed trainings")
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--cores", default=None, help="comma list of CPU ids to pin to")
    parser.add_argument("--threads", type=int, default=0, help="threads (default: #cores)")
    args = parser.parse_args(argv)
    args.argv = argv
    q = args.quick
    args.cases = (
        args.cases.split(",")
        if args.cases
        else (["mmd-512x256", "dan", "dann"] if q else [*MMD_SIZES, *TRAIN_CASES])
    )
    wanted = (
        args.frameworks.split(",")
        if args.frameworks
        else ["dalib", "dalib-cached", "tllib", "pytorch-adapt", "skada", "torch"]
    )
    unknown = set(wanted) - set(REQUIRES) | set(args.cases) - set(MMD_SIZES) - set(TRAIN_CASES)
    if unknown:
        parser.error(f"unknown framework or case: {sorted(unknown)}")
    args.rounds = args.rounds or (1 if q else 5)
    args.reps = args.reps or (2 if q else 5)
    args.train_reps = args.train_reps or (1 if q else 2)
    args.steps = args.steps or (100 if q else 1000)
    args.cores = [int(c) for c in args.cores.split(",")] if args.cores else None
    # Peers that are not installed are named (with the pip command) before any work.
    missing = _missing(wanted)
    args.skipped = {}
    for fw, mods in missing.items():
        why = f"not installed (missing {', '.join(mods)}); install with `{INSTALL_HINT}`"
        print(f"peers: skipping {fw}: {why}", flush=True)
        args.skipped[fw] = why
    if "dalib" in missing:
        raise SystemExit("peers: dalib needs jax; install the project first.")
    args.frameworks = [fw for fw in wanted if fw not in missing]
    args.available = set(args.frameworks) | ({"torch"} if "torch" not in _missing(["torch"])
                                             else set())  # fmt: skip
    result = run(args)
    text = markdown(result)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    if args.docs:
        write_docs(args.docs, text)
    return result


BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"


def write_docs(path: str, block: str) -> None:
    """Puts ``block`` between the ``peers:begin`` / ``peers:end`` markers of ``path``."""
    with open(path) as fh:
        page = fh.read()
    if page.count(BEGIN) != 1 or page.count(END) != 1 or page.index(BEGIN) > page.index(END):
        raise SystemExit(f"peers: {path} needs one {BEGIN} ... {END} pair to replace.")
    head, rest = page.split(BEGIN)
    _, tail = rest.split(END)
    with open(path, "w") as fh:
        fh.write(f"{head}{BEGIN}\n{block}\n{END}{tail}")


if __name__ == "__main__":
    main()
