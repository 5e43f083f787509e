"""Calibration of the synthetic micro-expression databases: within- vs cross-database UF1.

Builds (or reuses) the five synthetic databases (C = casme2, H = smic-hs,
V = smic-vis, N = smic-nir, S = samm) with their LBP-TOP tables (computed from
the written frames by ``dalib.data.corpus_to_table``: Haar face box on the
onset frame, 112x112 faces, 16 frames, LBP-TOP R = 3, P = 8, grids
1/2/4/8 = 15,045 dims), then with a plain linear classifier on standardised
features prints

* within-database UF1 (and UAR): leave-one-subject-out inside each database,
  z-scores from the training subjects;
* cross-database source-only UF1 (and UAR) of the CDMER pairs C<->H, C<->V,
  C<->N, H<->V, H<->N, V<->N and C<->S, H<->S: train on every source clip, test
  on every target clip, z-scores with the source's mean and std.

Three classes (positive, negative, surprise): chance UF1 is about 1/3 or less.
Target labels are used only to score. The targets the generator is tuned to:
within-database UF1 >= 0.60 for each database; cross-database at least 0.15
lower on average, and above chance.

    python -m experiments.calibrate_me --out /tmp/dalib-synth-me
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np
from sklearn.metrics import f1_score, recall_score
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from dalib.synth import build_me, load_synthetic_me_table

CODES = {"C": "casme2", "H": "smic-hs", "V": "smic-vis", "N": "smic-nir", "S": "samm"}
# the 12 CDMER tasks, then C<->S and H<->S
PAIRS = (
    *("CH", "HC", "CV", "VC", "CN", "NC", "HV", "VH", "HN", "NH", "VN", "NV"),
    *("CS", "SC", "HS", "SH"),
)
CLASSES = ("negative", "positive", "surprise")


def uf1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean F1 over the classes present in ``y_true``."""
    return float(f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true)))


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true``."""
    return float(recall_score(y_true, y_pred, average="macro", labels=np.unique(y_true)))


def _zscore(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 1e-6, sd, 1.0)
    return [(x - mu) / sd for x in (train, *others)]


def _classifier(c: float) -> LinearSVC:
    return LinearSVC(C=c, class_weight="balanced", max_iter=20000)


def within(table, c: float) -> tuple[float, float]:
    """Leave-one-subject-out UF1 and UAR inside one database."""
    x, y, subjects = table.features, table.labels, table.subjects
    pred = np.empty_like(y)
    for s in np.unique(subjects):
        test = subjects == s
        xtr, xte = _zscore(x[~test], x[test])
        pred[test] = _classifier(c).fit(xtr, y[~test]).predict(xte)
    return uf1(y, pred), uar(y, pred)


def cross(source, target, c: float) -> tuple[float, float]:
    """Source-only UF1 and UAR: train on the whole source, test on the whole target."""
    xs, xt = _zscore(source.features, target.features)
    pred = _classifier(c).fit(xs, source.labels).predict(xt)
    return uf1(target.labels, pred), uar(target.labels, pred)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="build folder of the databases")
    parser.add_argument("--seed", type=int, default=0, help="build seed")
    parser.add_argument("--c", type=float, default=1e-3, help="LinearSVC C (fixed, not tuned)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    t0 = time.perf_counter()
    build_me(args.out, seed=args.seed, num_workers=args.workers)
    print(f"build (or cache check): {time.perf_counter() - t0:.1f} s, load {os.getloadavg()}")
    tables = {
        code: load_synthetic_me_table(name, root=args.out, build=False)
        for code, name in CODES.items()
    }
    with threadpool_limits(2):
        print(f"\nwithin-database, leave-one-subject-out (LinearSVC, C={args.c:g})")
        print(f"{'db':<10}{'clips':>6}{'subj':>6}{'UF1':>8}{'UAR':>8}")
        within_f1 = {}
        for code, table in tables.items():
            f, r = within(table, args.c)
            within_f1[code] = f
            n_sub = len(np.unique(table.subjects))
            print(f"{code} {CODES[code]:<8}{len(table):>6}{n_sub:>6}{f:>8.3f}{r:>8.3f}")
        print("\ncross-database, source-only (z-scores of the source)")
        print(f"{'task':<8}{'UF1':>8}{'UAR':>8}{'within(tgt)':>13}{'drop':>8}")
        drops, cross_f1 = [], []
        for pair in PAIRS:
            s, t = pair
            f, r = cross(tables[s], tables[t], args.c)
            cross_f1.append(f)
            drops.append(within_f1[t] - f)
            print(f"{s}->{t:<5}{f:>8.3f}{r:>8.3f}{within_f1[t]:>13.3f}{within_f1[t] - f:>8.3f}")
        cdmer = cross_f1[:12]
        print(
            f"\nmean within UF1 {np.mean(list(within_f1.values())):.3f}; "
            f"mean cross UF1 {np.mean(cross_f1):.3f} (12 CDMER tasks: {np.mean(cdmer):.3f}); "
            f"mean drop {np.mean(drops):.3f}; min cross {np.min(cross_f1):.3f}"
        )
        ok_within = all(v >= 0.60 for v in within_f1.values())
        ok_drop = np.mean(drops) >= 0.15
        ok_chance = np.mean(cross_f1) > 1 / 3
        print(
            f"targets: within >= 0.60 each: {ok_within}; mean drop >= 0.15: {ok_drop}; "
            f"mean cross above chance (1/3): {ok_chance}; every pair above 1/3: "
            f"{bool(np.min(cross_f1) > 1 / 3)}"
        )


if __name__ == "__main__":
    main()
