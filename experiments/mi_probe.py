r"""Diagnostic: what each half of ``mi_decomposition``'s features carries on the health toys.

``mi_decomposition`` splits the encoder output :math:`F = [U, V]` (64 + 64 of
the default 128 features); its classifier reads :math:`U` only. Per seed this
trains it through the public path (:func:`~dalib.experiment.fit_method` on an
:class:`~dalib.experiment.AdaptData`, as :mod:`experiments.health`) and prints
one JSON line with

* ``target_acc`` (scoring) and the run's last logged terms: ``source_acc``,
  ``domain_acc`` (the domain classifier on :math:`V`), ``mmd`` (source/target
  MMD of :math:`U`), ``club`` (the CLUB estimate of :math:`I(U; V)`);
* ``probe_u`` / ``probe_v``: 5-fold cross-validated accuracy of a logistic
  regression from :math:`U` / :math:`V` to the *source* labels;
* ``norm_u`` / ``norm_v``: mean row norm of each half (source and target rows);
  ``live_u``: how many of the :math:`U` units are non-zero on any row (the
  encoder ends with a ReLU, so a unit that is zero on every row gets no gradient).

Target labels are used for ``target_acc`` only. ``--set`` passes config
overrides (e.g. ``options.club_weight=0.0`` for the ablation in
``docs/health.md``).

``python -m experiments.mi_probe --toy blobs_rotation --seeds 5``
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def probe(x: np.ndarray, y: np.ndarray) -> float:
    """5-fold cross-validated accuracy of a logistic regression from ``x`` to ``y``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    return float(cross_val_score(LogisticRegression(max_iter=2000), x, y, cv=5).mean())


def diagnose(toy_name: str, seed: int, overrides=(), steps: int = 1000) -> dict:
    """One seed's row (see the module docstring)."""
    from dalib.experiment import AdaptData, RunSpec, apply_overrides, fit_method
    from experiments.health import _config, make_toy

    toy = make_toy(toy_name)
    spec = RunSpec.from_config(apply_overrides(_config("mi_decomposition", steps), overrides))
    classes = tuple(str(c) for c in range(int(toy.source_labels.max()) + 1))
    data = AdaptData(toy.name, classes, toy.source, toy.source_labels, toy.target, toy.groups)
    fitted = fit_method(spec, data, seed, want_features=True)
    fs, ft = fitted.features
    k = fs.shape[1] // 2
    u, v = np.concatenate([fs[:, :k], ft[:, :k]]), np.concatenate([fs[:, k:], ft[:, k:]])

    def last(name):
        return round(float(np.mean(fitted.history[name][-5:])), 3)

    return {
        "toy": toy_name,
        "seed": seed,
        "set": list(overrides),
        "target_acc": round(float(np.mean(fitted.predictions == toy.target_labels)), 3),
        "source_acc": last("source_accuracy"),
        "probe_u": round(probe(fs[:, :k], toy.source_labels), 3),
        "probe_v": round(probe(fs[:, k:], toy.source_labels), 3),
        "norm_u": round(float(np.linalg.norm(u, axis=1).mean()), 2),
        "norm_v": round(float(np.linalg.norm(v, axis=1).mean()), 2),
        "live_u": int(np.sum(np.abs(u).max(0) > 0)),
        "domain_acc": last("domain_classifier/domain_accuracy"),
        "mmd": last("mmd_invariant/value"),
        "club": last("club/club"),
        "load": round(os.getloadavg()[0], 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--toy", default="blobs_rotation")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    args = p.parse_args(argv)
    for seed in range(args.seeds):
        print(json.dumps(diagnose(args.toy, seed, args.set, args.steps)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
