r"""One run (a method, a task, a seed): fit, score, write.

The flow of :func:`run_one`:

1. :func:`dalib.experiment.fit_method` (or :func:`~dalib.experiment.fitting.fit_seeds`
   for the seeds of a sweep) fits on :attr:`Task.adapt` (source features and
   labels, target features) and predicts every target row.
2. :func:`score` reads the target labels — the only place besides an
   explicitly requested oracle selection — and computes UAR, WAR, UF1.
3. The run writes ``config.json``, ``metrics.json``, ``predictions.csv``,
   ``history.csv``, plots and (deep methods, when asked) ``model/``, and marks
   its folder ``COMPLETE`` last.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dalib import metrics as _metrics
from dalib.experiment import diagnostics as _diagnostics
from dalib.experiment.fitting import Fitted, fit_seeds
from dalib.experiment.outputs import RunDir, atomic_write_text
from dalib.experiment.spec import RunSpec
from dalib.experiment.task import Task

__all__ = ["run_one", "score"]


def score(task: Task, predictions: np.ndarray) -> dict[str, Any]:
    """UAR, WAR, UF1, per-class recall and the confusion matrix on the scored target rows.

    The only reader of the target labels (with the oracle selection, when asked
    for). Also returns ``true_names``, each target row's class name (``""``
    when not scored), for ``predictions.csv``. With no scored row (an
    unlabelled target) the metrics are ``None``.
    """
    mask = task.scored
    c = task.num_classes
    scored = int(mask.sum())
    true_names = [
        task.classes[y] if ok else "" for y, ok in zip(task.target_labels, mask, strict=True)
    ]
    if scored == 0:
        return {
            "uar": None,
            "war": None,
            "uf1": None,
            "recall": {},
            "confusion_matrix": None,
            "num_scored": 0,
            "true_names": true_names,
        }
    y = task.target_labels[mask]
    p = np.asarray(predictions)[mask]
    cm = np.asarray(_metrics.confusion_matrix(y, p, num_classes=c))
    support = cm.sum(axis=1)
    recall = {
        name: (float(cm[i, i] / support[i]) if support[i] else None)
        for i, name in enumerate(task.classes)
    }
    return {
        "uar": float(_metrics.uar(y, p, num_classes=c)),
        "war": float(_metrics.war(y, p)),
        "uf1": float(_metrics.uf1(y, p, num_classes=c)),
        "recall": recall,
        "confusion_matrix": cm.tolist(),
        "num_scored": scored,
        "true_names": true_names,
    }


def _plots(spec: RunSpec, run: RunDir, task: Task, fitted: Fitted, seed: int, cm) -> list[str]:
    from dalib.experiment import plots

    kinds, limit = spec.plots.kinds, spec.plots.seeds
    if limit and seed >= spec.seeds[0] + limit:
        return []
    written = []
    mask = task.scored
    title = f"{spec.label} {task.name} seed {seed}"
    if "confusion" in kinds and cm is not None:
        plots.plot_confusion(np.asarray(cm), task.classes, run.path / "confusion.png", title=title)
        written.append("confusion.png")
    if "curves" in kinds and fitted.history:
        plots.plot_curves(fitted.history, run.path / "curves.png", title=title)
        written.append("curves.png")
    if "tsne" in kinds and fitted.features is not None and mask.any():
        fs, ft = fitted.features
        a = task.adapt
        panels = {
            "before": (a.source_features, a.target_features[mask]),
            "after": (fs, ft[mask]),
        }
        plots.plot_tsne(
            panels,
            a.source_labels,
            task.target_labels[mask],  # colours only
            task.classes,
            run.path / "tsne.png",
            seed=seed,
            max_points=spec.plots.tsne_max_points,
        )
        written.append("tsne.png")
    return written


def _wants_tsne(spec: RunSpec, seed: int) -> bool:
    tsne_seeds = spec.plots.tsne_seeds
    if spec.plots.seeds:
        tsne_seeds = min(tsne_seeds, spec.plots.seeds)
    return "tsne" in spec.plots.kinds and seed < spec.seeds[0] + tsne_seeds


def _history_csv(history: Mapping[str, Sequence[float]]) -> str:
    buf = io.StringIO()
    names = list(history)
    writer = csv.writer(buf)
    writer.writerow(names)
    for row in zip(*(history[n] for n in names), strict=True):
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def run_one(
    spec: RunSpec,
    task: Task,
    seed: int,
    run_dir: str | Path,
    *,
    extra: Mapping[str, Any] | None = None,
    save_model: bool = False,
    fitted: Fitted | None = None,
) -> dict[str, Any]:
    """Fits (unless ``fitted`` is given), scores and writes one run; returns its metrics record.

    The directory is cleared first if an earlier attempt left it incomplete;
    ``COMPLETE`` is written only after every other file.
    """
    import dalib

    total_start = time.perf_counter()
    run = RunDir(run_dir)
    run.start()
    run.write_json("config.json", {**spec.config, "seed": seed, "config_hash": spec.hash})
    fit_outside = 0.0 if fitted is None else fitted.fit_seconds  # fitted by the sweep
    if fitted is None:
        (fitted,) = _fit_group(spec, task, [seed])
    scores = score(task, fitted.predictions)
    classes = task.classes
    run.write_predictions(
        task.target_files,
        scores["true_names"],
        [classes[i] for i in fitted.predictions],
        fitted.scores,
        classes,
        prefix="p_" if fitted.score_kind == "probability" else "score_",
    )
    if fitted.history:
        atomic_write_text(run.path / "history.csv", _history_csv(fitted.history))
    written = _plots(spec, run, task, fitted, seed, scores["confusion_matrix"])
    if save_model and fitted.params is not None:
        from dalib.experiment.model import save_model as _save

        _save(run.path, spec, task, fitted)
    record = {
        "method": spec.method,
        "label": spec.label,
        "task": task.name,
        "seed": seed,
        **{k: scores[k] for k in ("uar", "war", "uf1")},
        "recall": scores["recall"],
        "confusion_matrix": scores["confusion_matrix"],
        "classes": list(classes),
        "class_mapping": {
            "classes": list(task.mapping.classes),
            "dropped_source": task.mapping.dropped_source,
            "dropped_target": task.mapping.dropped_target,
            "description": task.mapping.describe(),
        },
        "num_source": len(task.adapt.source_labels),
        "num_target_adapted": len(task.target_files),
        "num_target_scored": scores["num_scored"],
        "selection": fitted.selection,
        "timing": {
            "fit_seconds": round(fitted.fit_seconds, 3),
            "run_seconds": round(time.perf_counter() - total_start + fit_outside, 3),
            "note": "the first run of a method in a process includes JIT compilation",
        },
        "plots": written,
        "config_hash": spec.hash,
        "dalib_version": dalib.__version__,
        **fitted.extras,
        **(dict(extra) if extra else {}),
    }
    run.write_json("metrics.json", record)
    run.finish()
    _diagnostics.report(record)  # one stderr line per warning (an unsettled adversarial game)
    return record


def _fit_group(spec: RunSpec, task: Task, seeds: list[int]) -> list[Fitted]:
    """Fits the seeds of one method on one task (vmapped where :func:`fit_seeds` can)."""
    oracle = task.target_labels if spec.selection.criterion == "oracle" else None
    return fit_seeds(
        spec,
        task.adapt,
        seeds,
        want_features=[_wants_tsne(spec, s) for s in seeds],
        oracle_labels=oracle,
    )
