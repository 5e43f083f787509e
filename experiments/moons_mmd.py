r"""Diagnostic: which rotation of the target moons does DAN's MMD prefer?

Checks the hypothesis of ``docs/health.md`` that on the 50-degree moons the
kernel two-sample distance favours a pairing of the wrong halves. On the raw
2-D moons of the health toys (``experiments.health``: same sampler, same seeds,
the target rotated by ``angle`` about ``(0.5, 0.25)``), it rotates the target
back by every ``theta`` in a grid and computes

* the squared MMD between the source and the turned target with DAN's kernel
  (:meth:`dalib.kernels.MultiGaussian.dan`, the biased estimator of
  :func:`dalib.losses.mmd` on all 300 + 300 rows), and
* how right the pairing is: the accuracy, on the turned target, of a 1-nearest-
  neighbour classifier fitted on the source (target labels used for this
  score only).

``theta = -angle`` is the correct alignment; ``theta = 180 - angle`` overlaps
the marginals as well with the two moons swapped. It also reports the local
minimum reached by descending the MMD curve from ``theta = 0`` (no alignment),
a one-parameter stand-in for what gradient descent on the encoder can reach.

``--learned dan,dsan`` instead trains those methods on the toys (seeds
``0..k-1``) and compares, in the features they end with, the MMD of matched
class pairs with that of swapped ones.

``python -m experiments.moons_mmd`` (a few seconds on one core);
``python -m experiments.moons_mmd --learned source_only,dan,dsan`` (about a
minute per method).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

CENTRE = np.array([0.5, 0.25])


def _turn(x: np.ndarray, degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (x - CENTRE) @ r.T + CENTRE


def _nn_accuracy(xs, ys, xt, yt) -> float:
    d = ((xt[:, None, :] - xs[None, :, :]) ** 2).sum(-1)
    return float(np.mean(ys[np.argmin(d, axis=1)] == yt))


def curve(angle: float, seed: int = 0, step: float = 5.0, lifted: bool = False):
    """``(thetas, mmd2, pairing accuracy)`` for the moons rotated by ``angle``.

    ``lifted``: compare in the input space the methods see (the health toy's
    random linear map and noise, z-normalised with the toy's pooled statistics),
    the turn still applied to the raw target before the map.
    """
    import jax
    import jax.numpy as jnp

    from dalib import kernels, losses
    from experiments.health import DIM, NOISE, N, _moons

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(1000 + seed)  # the health toy's data stream
    xs, ys = _moons(rng, N)
    xt, yt = _moons(rng, N)
    xt = _turn(xt, angle)
    affine = None
    if lifted:  # the same draws as experiments.health._lift
        a = rng.normal(size=(2, DIM)) / np.sqrt(2)
        ns, nt = NOISE * rng.normal(size=(N, DIM)), NOISE * rng.normal(size=(N, DIM))
        pooled = np.concatenate([xs @ a + ns, xt @ a + nt])
        mean, std = pooled.mean(0), pooled.std(0) + 1e-8
        affine = (a, nt, mean, std)
        xs = (xs @ a + ns - mean) / std

    def lift(x):
        if affine is None:
            return x
        a, nt, mean, std = affine
        return (x @ a + nt - mean) / std

    if lifted and seed == 0 and np.isclose(angle, 50.0):  # the toy of the health table
        from experiments.health import make_toy

        toy = make_toy("moons50")
        assert np.allclose(toy.target, lift(xt), atol=1e-5)
        assert np.allclose(toy.source, xs, atol=1e-5)
    kernel = kernels.MultiGaussian.dan()
    thetas = np.arange(-180.0, 180.0 + step / 2, step)
    mmd2, acc = [], []
    for theta in thetas:
        back = lift(_turn(xt, theta))
        mmd2.append(float(losses.mmd(jnp.asarray(xs), jnp.asarray(back), kernel=kernel)))
        acc.append(_nn_accuracy(xs, ys, back, yt))
    return thetas, np.array(mmd2), np.array(acc)


def descend(thetas: np.ndarray, values: np.ndarray, start: float = 0.0) -> int:
    """Index of the local minimum reached by walking downhill on the grid from ``start``."""
    i = int(np.argmin(np.abs(thetas - start)))
    while True:
        left = values[i - 1] if i > 0 else np.inf
        right = values[i + 1] if i < len(values) - 1 else np.inf
        if min(left, right) >= values[i]:
            return i
        i = i - 1 if left < right else i + 1


def learned(method: str, toy_name: str, seed: int) -> dict:
    r"""In the features a trained ``method`` ends with: MMD of matched vs swapped class pairs.

    Fits ``method`` (default options and recipe, 1000 steps) on the health toy
    through :func:`dalib.experiment.fit_method` and, with the DAN kernel,
    returns the marginal :math:`\mathrm{MMD}^2` of the two feature sets, the
    mean over classes of :math:`\mathrm{MMD}^2` between source class ``k`` and
    target class ``k`` (matched) and target class ``1-k`` (swapped), and the
    target accuracy. Target labels serve this diagnosis only.
    """
    import jax.numpy as jnp

    from dalib import kernels, losses
    from dalib.experiment import AdaptData, RunSpec, fit_method
    from experiments.health import _config, make_toy

    toy = make_toy(toy_name)
    spec = RunSpec.from_config(_config(method, 1000))
    data = AdaptData(toy.name, ("0", "1"), toy.source, toy.source_labels, toy.target, toy.groups)
    fitted = fit_method(spec, data, seed, want_features=True)
    fs, ft = (np.asarray(a, np.float64) for a in fitted.features)
    ys, yt = toy.source_labels, toy.target_labels
    kernel = kernels.MultiGaussian.dan()

    def m2(a, b):
        return float(losses.mmd(jnp.asarray(a), jnp.asarray(b), kernel=kernel))

    matched = np.mean([m2(fs[ys == k], ft[yt == k]) for k in (0, 1)])
    swapped = np.mean([m2(fs[ys == k], ft[yt == 1 - k]) for k in (0, 1)])
    return {
        "accuracy": float(np.mean(np.asarray(fitted.predictions) == yt)),
        "marginal": m2(fs, ft),
        "matched": float(matched),
        "swapped": float(swapped),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--angles", default="30,50")
    parser.add_argument("--seeds", type=int, default=3, help="data seeds 0..k-1")
    parser.add_argument("--step", type=float, default=5.0)
    parser.add_argument("--table", action="store_true", help="print every theta")
    parser.add_argument("--lifted", action="store_true", help="in the toys' input space")
    parser.add_argument(
        "--learned", default="", help="methods: compare class pairings in their learned features"
    )
    args = parser.parse_args(argv)
    if args.learned:
        for angle in args.angles.split(","):
            for method in args.learned.split(","):
                rows = [learned(method, f"moons{angle}", s) for s in range(args.seeds)]
                cell = {k: np.array([r[k] for r in rows]) for k in rows[0]}
                print(
                    f"moons{angle} {method:12s} target acc {100 * cell['accuracy'].mean():.1f} "
                    f"(per seed {' '.join(f'{100 * a:.1f}' for a in cell['accuracy'])}); "
                    f"MMD^2 x1e3 marginal {1e3 * cell['marginal'].mean():.1f}, class pairs "
                    f"matched {1e3 * cell['matched'].mean():.1f} vs swapped "
                    f"{1e3 * cell['swapped'].mean():.1f} (swapped < matched in "
                    f"{int(np.sum(cell['swapped'] < cell['matched']))} of {len(rows)} seeds)",
                    flush=True,
                )
        return 0
    for angle in (float(a) for a in args.angles.split(",")):
        for seed in range(args.seeds):
            thetas, mmd2, acc = curve(angle, seed, args.step, args.lifted)
            at = {t: i for i, t in enumerate(thetas)}
            right, swapped, none = at[-angle], at[180.0 - angle], at[0.0]
            best = int(np.argmin(mmd2))
            local = descend(thetas, mmd2)
            print(
                f"moons{angle:g} data seed {seed}: MMD^2 x1e3 at theta=0 {1e3 * mmd2[none]:.2f} "
                f"(pairing acc {acc[none]:.2f}); correct theta={-angle:g} "
                f"{1e3 * mmd2[right]:.2f} (acc {acc[right]:.2f}); swapped "
                f"theta={180 - angle:g} {1e3 * mmd2[swapped]:.2f} (acc {acc[swapped]:.2f}); "
                f"global min theta={thetas[best]:g} {1e3 * mmd2[best]:.2f} "
                f"(acc {acc[best]:.2f}); downhill from 0 ends at theta={thetas[local]:g} "
                f"{1e3 * mmd2[local]:.2f} (acc {acc[local]:.2f})"
            )
            if args.table:
                for t, m, a in zip(thetas, mmd2, acc, strict=True):
                    print(f"  theta {t:6.1f}  MMD^2 x1e3 {1e3 * m:7.3f}  acc {a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
