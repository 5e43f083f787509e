"""Calibration of the synthetic speech corpora: within- vs cross-corpus UAR.

Builds (or reuses) synth-emodb (B), synth-enterface (E) and synth-casia (C),
then, on their openSMILE IS09 functionals with a source-only logistic
regression on z-normalised features, prints

* within-corpus UAR: leave-one-speaker-out inside each corpus, on all of its
  classes and on the classes of each task (the same 5 classes as cross-corpus);
* cross-corpus UAR of the six tasks B->E, E->B, B->C, C->B, E->C, C->E: train on
  every source utterance of the shared classes, test on every target utterance
  of those classes. Two normalisations: ``src-z`` (z-scores with the source's
  mean and std, the plain source-only baseline) and ``dom-z`` (each corpus
  z-normalised with its own statistics, a label-free per-domain normalisation
  many cross-corpus papers apply).

Target labels are used only to score. Chance is 1/5 for every task.

    python -m experiments.calibrate_synth --out /tmp/dalib-synth
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from threadpoolctl import threadpool_limits

from dalib.experiment.protocols import SER_CORPORA, ser_tasks
from dalib.synth import build_speech_corpora, load_synthetic_table

CODES = {code: f"synth-{name}" for code, name in SER_CORPORA.items()}


def _uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(recall_score(y_true, y_pred, average="macro", labels=np.unique(y_true)))


def _zscore(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return [(x - mu) / sd for x in (train, *others)]


def _classifier(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=3000)


def within_uar(table: dict, classes, c: float) -> float:
    """Leave-one-speaker-out UAR inside one corpus on ``classes``."""
    keep = np.isin(table.labels, classes)
    x, y, spk = table.features[keep], table.labels[keep], table.speakers[keep]
    pred = np.empty_like(y)
    for s in np.unique(spk):
        test = spk == s
        xtr, xte = _zscore(x[~test], x[test])
        pred[test] = _classifier(c).fit(xtr, y[~test]).predict(xte)
    return _uar(y, pred)


def cross_uar(src: dict, tgt: dict, classes, c: float, per_domain: bool) -> float:
    """Source-only UAR on the target, trained on every source utterance of ``classes``."""
    ks, kt = np.isin(src.labels, classes), np.isin(tgt.labels, classes)
    xs, ys = src.features[ks], src.labels[ks]
    xt, yt = tgt.features[kt], tgt.labels[kt]
    if per_domain:
        (xs,), (xt,) = _zscore(xs), _zscore(xt)
    else:
        xs, xt = _zscore(xs, xt)
    return _uar(yt, _classifier(c).fit(xs, ys).predict(xt))


def prosody_table(corpus_dir) -> dict:
    """Per emotion: mean F0 (semitones above 27.5 Hz, voiced frames), loudness, duration.

    From openSMILE eGeMAPS v02 low-level descriptors (``F0semitoneFrom27.5Hz_sma3nz``,
    ``Loudness_sma3``) of every utterance, averaged per emotion.
    """
    import opensmile
    import soundfile

    from dalib.synth import load_manifest

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )
    rows: dict[str, list] = {}
    for u in load_manifest(corpus_dir)["utterances"]:
        wav, rate = soundfile.read(corpus_dir / u["path"], dtype="float32")
        lld = smile.process_signal(wav, rate)
        f0 = lld["F0semitoneFrom27.5Hz_sma3nz"].to_numpy()
        loud = lld["Loudness_sma3"].to_numpy()
        rows.setdefault(u["label"], []).append((f0[f0 > 0].mean(), loud.mean(), u["duration_s"]))
    return {label: np.mean(v, axis=0) for label, v in sorted(rows.items())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/dalib-synth", help="corpus folder")
    parser.add_argument("--seed", type=int, default=0, help="build seed")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--feature-set", default="is09", help="openSMILE functionals")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength")
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    parser.add_argument(
        "--prosody", action="store_true", help="also print F0/loudness/duration per emotion"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # one BLAS thread: many small fits, and multi-threaded BLAS is far slower on
    # a shared machine
    threadpool_limits(1)

    start = time.perf_counter()
    build_speech_corpora(
        args.out,
        seed=args.seed,
        feature_sets=[args.feature_set],
        num_workers=args.workers,
        force=args.force,
    )
    build_s = time.perf_counter() - start
    tables = {
        code: load_synthetic_table(name, args.feature_set, root=args.out, build=False)
        for code, name in CODES.items()
    }
    print(f"\nbuild (or cache check): {build_s:.1f} s with {args.workers} workers")
    for code, t in tables.items():
        labels, counts = np.unique(t.labels, return_counts=True)
        print(
            f"{code} {CODES[code]}: {len(t.labels)} utterances, "
            f"{len(np.unique(t.speakers))} speakers, "
            f"{dict(zip(labels.tolist(), counts.tolist(), strict=True))}"
        )

    results: dict = {"build_s": build_s, "within": {}, "tasks": {}}
    print(f"\nWithin-corpus UAR (%), leave-one-speaker-out, {args.feature_set}, logreg")
    print("| corpus | classes | UAR |\n|---|---:|---:|")
    for code, t in tables.items():
        classes = np.unique(t.labels)
        results["within"][code] = within_uar(t, classes, args.C)
        print(f"| {code} {CODES[code]} | {len(classes)} | {100 * results['within'][code]:.1f} |")

    print("\nCross-corpus source-only UAR (%) on the shared classes (chance 20.0)")
    print("| task | within src (LOSO) | within tgt (LOSO) | cross src-z | cross dom-z |")
    print("|---|---:|---:|---:|---:|")
    for task in ser_tasks():
        src, tgt = tables[task.source], tables[task.target]
        row = {
            "within_source": within_uar(src, task.classes, args.C),
            "within_target": within_uar(tgt, task.classes, args.C),
            "cross_src_z": cross_uar(src, tgt, task.classes, args.C, per_domain=False),
            "cross_dom_z": cross_uar(src, tgt, task.classes, args.C, per_domain=True),
        }
        results["tasks"][task.name] = row
        print(f"| {task.name} | " + " | ".join(f"{100 * v:.1f}" for v in row.values()) + " |")
    mean = {k: np.mean([r[k] for r in results["tasks"].values()]) for k in row}
    print("| average | " + " | ".join(f"{100 * v:.1f}" for v in mean.values()) + " |")
    results["average"] = mean

    if args.prosody:
        from pathlib import Path

        print("\nProsody per emotion (eGeMAPS LLD means over utterances)")
        print("| corpus | emotion | F0 (st) | loudness | duration (s) |\n|---|---|---:|---:|---:|")
        for code, name in CODES.items():
            table = prosody_table(Path(args.out) / name)
            results.setdefault("prosody", {})[code] = table
            for label, (f0, loud, dur) in table.items():
                print(f"| {code} | {label} | {f0:.1f} | {loud:.2f} | {dur:.2f} |")
    return results


if __name__ == "__main__":
    main()
