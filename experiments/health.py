r"""The method-health suite: every method on small, visible toy shifts, against source_only.

``python -m experiments.health`` trains each registered deep method (and,
with ``--shallow``, the shallow ones) with its default options and training
recipe (:mod:`dalib.experiment.recipes`) on toy shifts where the literature
shows its family working, over 5 seeds, and prints a markdown table of target
accuracy (mean ± std), each cell marked where it beats ``source_only`` by more
than the larger seed std. Target labels are used for scoring only.

The toys (each passed through a fixed random linear map to ``DIM`` dimensions,
2 by default, plus a little independent noise, and z-normalised with the
pooled statistics of both domains as the protocol's ``data.normalize=pooled``;
``groups`` gives each block of ``GROUP`` columns, one by default, its own
region so that region methods can run; ``--dim 16`` lifts them, see
``docs/health.md`` for why that is not the default):

* ``moons30`` / ``moons50``: two interleaving moons; the target is the source
  distribution rotated by 30 / 50 degrees about its centre (the DANN paper's
  toy, Ganin et al. 2016, fig. 2; labels rotate with the points);
* ``blobs_rotation``: three Gaussian classes (shares 50/30/20 %, an
  irregular layout), the target rotated by 40 degrees (a covariate shift
  with a label-preserving rotation);
* ``class_shift``: three Gaussian classes whose target means move by a
  different vector per class, so that aligning the marginals alone can pair
  the wrong classes (the case class-conditional methods — CDAN, DSAN/LMMD,
  JAN — are built for);
* ``triangle_rotation``: a hard case kept on purpose, in no family's list:
  three equal classes at 120 degrees, the target rotated by 40 degrees and
  stretched. Each target class sits between two source classes, and the
  marginals match almost as well under the wrong rotation (by 80 degrees the
  other way): distribution matching has nothing to choose by.

Use it through the experiment layer's public path (:func:`fit_method` on an
:class:`~dalib.experiment.AdaptData`), as users do. ``--quick`` runs 2 seeds
and 400 steps; ``--json PATH`` writes every accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

DIM = 2
GROUP = 1
N = 300  # rows per domain
NOISE = 0.1  # std of the independent noise added after the lift
EQUAL_SHARES = False  # --equal-shares: blobs_rotation with equal class shares (a check)
TOYS = ("moons30", "moons50", "blobs_rotation", "class_shift", "triangle_rotation")
#: The toys each family is meant for (a method must beat source_only there).
FAMILY_TOYS = {
    "marginal": ("moons30", "moons50", "blobs_rotation"),
    "conditional": ("moons30", "moons50", "blobs_rotation", "class_shift"),
}
CONDITIONAL = ("cdan", "cdan_e", "dsan", "jan", "djda", "deepjdot", "mcd", "mdd")


@dataclasses.dataclass(frozen=True)
class Toy:
    name: str
    source: np.ndarray
    source_labels: np.ndarray
    target: np.ndarray
    target_labels: np.ndarray
    groups: np.ndarray


def _rotate(x: np.ndarray, degrees: float, centre: np.ndarray) -> np.ndarray:
    a = np.deg2rad(degrees)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (x - centre) @ r.T + centre


def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    t = rng.uniform(0, np.pi, n)
    x = np.where(
        y[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], 1),
        np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1),
    )
    return x + 0.1 * rng.normal(size=x.shape), y


def _blobs(rng, n, means, scale=0.35, share=None):
    y = rng.choice(len(means), size=n, p=share)
    return means[y] + scale * rng.normal(size=(n, 2)), y


def _lift(xs, xt, rng):
    """A fixed random linear map 2 -> DIM plus noise, then pooled z-normalisation."""
    a = rng.normal(size=(2, DIM)) / np.sqrt(2)
    zs = xs @ a + NOISE * rng.normal(size=(len(xs), DIM))
    zt = xt @ a + NOISE * rng.normal(size=(len(xt), DIM))
    pooled = np.concatenate([zs, zt])
    mean, std = pooled.mean(0), pooled.std(0) + 1e-8
    return ((zs - mean) / std).astype(np.float32), ((zt - mean) / std).astype(np.float32)


def make_toy(name: str, seed: int = 0) -> Toy:
    """The toy ``name`` (:data:`TOYS`), drawn from ``seed`` (the data, not the method's seed)."""
    rng = np.random.default_rng(1000 + seed)
    if name.startswith("moons"):
        xs, ys = _moons(rng, N)
        xt, yt = _moons(rng, N)
        xt = _rotate(xt, float(name[5:]), np.array([0.5, 0.25]))
    elif name == "blobs_rotation":
        # no symmetry: unequal class shares and an irregular layout, so that the
        # rotation back is the only good match of the marginals
        means = np.array([[0.0, 1.6], [-1.4, -0.6], [1.0, -1.0]])
        share = None if EQUAL_SHARES else (0.5, 0.3, 0.2)
        xs, ys = _blobs(rng, N, means, 0.4, share=share)
        xt, yt = _blobs(rng, N, means, 0.4, share=share)
        xt = _rotate(xt, 40.0, np.zeros(2))
    elif name == "triangle_rotation":
        ang = np.deg2rad([90, 210, 330])
        means = 1.5 * np.stack([np.cos(ang), np.sin(ang)], 1)
        xs, ys = _blobs(rng, N, means, 0.45)
        xt, yt = _blobs(rng, N, means, 0.45)
        xt = _rotate(xt, 40.0, np.zeros(2)) * np.array([1.3, 0.8])
    elif name == "class_shift":
        ang = np.deg2rad([90, 210, 330])
        means = 1.5 * np.stack([np.cos(ang), np.sin(ang)], 1)
        xs, ys = _blobs(rng, N, means, 0.45)
        xt, yt = _blobs(rng, N, means, 0.45)
        shift = np.array([[1.1, 0.2], [0.2, -1.1], [-0.6, 0.9]])
        xt = xt + shift[yt]
    else:
        raise ValueError(f"unknown toy {name!r}; choose from {TOYS}.")
    zs, zt = _lift(xs, xt, rng)
    groups = np.arange(DIM) // max(GROUP, DIM // 4)
    return Toy(name, zs, ys.astype(np.int32), zt, yt.astype(np.int32), groups)


def _config(method: str, steps: int):
    from dalib.experiment import default_config

    c = default_config()
    c.method = method
    c.seeds = 1
    c.train.steps = steps
    c.plots.kinds = ()
    c.save_model = False
    return c


def fit_accuracy(method: str, toy: Toy, seed: int, *, steps: int = 1000, overrides=()) -> float:
    """Target accuracy of ``method`` (default options and recipe) on ``toy`` for one seed."""
    from dalib.experiment import AdaptData, RunSpec, apply_overrides, fit_method

    config = apply_overrides(_config(method, steps), list(overrides))
    spec = RunSpec.from_config(config)
    classes = tuple(str(c) for c in range(int(toy.source_labels.max()) + 1))
    data = AdaptData(toy.name, classes, toy.source, toy.source_labels, toy.target, toy.groups)
    fitted = fit_method(spec, data, seed)
    return float(np.mean(fitted.predictions == toy.target_labels))


def run(methods, toys, seeds, steps, overrides=(), log=sys.stderr, jsonl=""):
    """``{method: {toy: [accuracy per seed]}}``."""
    out: dict[str, dict[str, list[float]]] = {}
    for method in methods:
        out[method] = {}
        for name in toys:
            toy = make_toy(name)
            start = time.perf_counter()
            accs = [fit_accuracy(method, toy, s, steps=steps, overrides=overrides) for s in seeds]
            out[method][name] = accs
            if jsonl:
                with open(jsonl, "a") as f:
                    f.write(json.dumps({"method": method, "toy": name, "accuracy": accs}) + "\n")
            print(
                f"{method:16s} {name:15s} {100 * np.mean(accs):5.1f} ± {100 * np.std(accs):4.1f} "
                f"({time.perf_counter() - start:.0f} s)",
                file=log,
                flush=True,
            )
    return out


def family_toys(method: str) -> tuple[str, ...]:
    """The toys ``method``'s family is meant for."""
    return FAMILY_TOYS["conditional" if method in CONDITIONAL else "marginal"]


def markdown(results, toys) -> str:
    """The table: mean ± std (%), ``*`` where the row beats source_only by more than the seed std,
    ``-`` where it loses by more than it on a toy of its family."""
    base = results.get("source_only", {})
    lines = [
        "| method | " + " | ".join(toys) + " |",
        "|---|" + "---:|" * len(toys),
    ]
    for method, row in results.items():
        cells = []
        for toy in toys:
            accs = np.asarray(row.get(toy, []), dtype=float) * 100
            if not len(accs):
                cells.append("")
                continue
            cell = f"{accs.mean():.1f} ± {accs.std():.1f}"
            if method != "source_only" and toy in base:
                b = np.asarray(base[toy]) * 100
                margin = max(accs.std(), b.std())
                if accs.mean() - b.mean() > margin:
                    cell += " *"
                elif b.mean() - accs.mean() > margin and toy in family_toys(method):
                    cell += " -"
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    global DIM, NOISE, EQUAL_SHARES
    from dalib.experiment import registry

    p = argparse.ArgumentParser(
        prog="python -m experiments.health", description=__doc__.split("\n")[0]
    )
    p.add_argument("--methods", default="", help="comma list (default: every deep method)")
    p.add_argument("--toys", default=",".join(TOYS))
    p.add_argument("--dim", type=int, default=DIM, help="lift the 2-D toys to this many dims")
    p.add_argument("--noise", type=float, default=NOISE, help="noise std added after the lift")
    p.add_argument(
        "--equal-shares",
        action="store_true",
        help="blobs_rotation with equal class shares instead of 50/30/20 %% (a check)",
    )
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--shallow", action="store_true", help="also the shallow methods")
    p.add_argument("--quick", action="store_true", help="2 seeds, 400 steps")
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    p.add_argument("--json", default="", help="write the accuracies here")
    p.add_argument("--jsonl", default="", help="append each (method, toy) result here as it ends")
    args = p.parse_args(argv)
    DIM, NOISE, EQUAL_SHARES = args.dim, args.noise, args.equal_shares
    if args.methods:
        methods = [m for m in args.methods.split(",") if m]
    else:
        methods = list(registry.names("deep"))
        if args.shallow:
            methods += list(registry.names("shallow"))
    if "source_only" not in methods:
        methods.insert(0, "source_only")
    toys = [t for t in args.toys.split(",") if t]
    seeds, steps = (2, 400) if args.quick else (args.seeds, args.steps)
    start = time.perf_counter()
    results = run(methods, toys, list(range(seeds)), steps, args.set, jsonl=args.jsonl)
    print(markdown(results, toys))
    print(
        f"\n{len(methods)} methods x {len(toys)} toys x {seeds} seeds, {steps} steps, "
        f"{time.perf_counter() - start:.0f} s (load {os.getloadavg()[0]:.1f})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": steps, "seeds": seeds, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
