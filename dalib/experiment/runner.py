r"""The experiment runner: one source -> target pair, or every task of a protocol.

The flow of one run (a method, a task, a seed):

1. :func:`prepare_task` maps both tables' class names onto the classes they
   share (:func:`dalib.experiment.map_classes`, the dropped classes reported),
   z-normalises the features without labels (by default one map for both
   domains, from their pooled statistics), and keeps the
   target labels apart, in :attr:`TaskData.target_labels`, which only
   :func:`score` reads.
2. :func:`fit` trains on ``(source features, source labels, target
   features)`` — a :class:`dalib.train.Batch`, which has no field for target
   labels — for a fixed budget, and predicts every target row. Optionally a
   label-free criterion of :mod:`dalib.selection` picks among checkpoints and a
   grid of alignment weights; the oracle criterion, which reads target labels,
   runs only when asked for by name and is labelled ``ORACLE (target labels)``.
3. :func:`run_one` scores the predictions, writes ``config.json``,
   ``metrics.json``, ``predictions.csv``, ``history.csv`` and the plots into the
   run's directory, and marks it ``COMPLETE`` last.

:func:`run_pair` and :func:`run_protocol` run many of those, skip the runs whose
directory is complete (an interrupted sweep resumes), and write the results
tables (Markdown and CSV, UAR and WAR).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dalib import metrics as _metrics
from dalib.experiment.config import config_hash, resolve_config
from dalib.experiment.methods import build_deep, is_deep
from dalib.experiment.outputs import RunDir, atomic_write_text
from dalib.experiment.protocols import SER_CORPORA, ClassMapping, map_classes, ser_tasks
from dalib.experiment.tables import ResultsTable

__all__ = [
    "ORACLE_LABEL",
    "ConfigMismatchError",
    "Fitted",
    "RunFailure",
    "SweepResult",
    "TaskData",
    "fit",
    "method_label",
    "prepare_task",
    "run_one",
    "run_pair",
    "run_protocol",
    "score",
    "write_tables",
]

ORACLE_LABEL = "ORACLE (target labels)"
_BUCKET = 256  # data arrays are padded to a multiple of this: one compile serves many tasks


class ConfigMismatchError(ValueError):
    """A complete run directory was made with another configuration."""


# ------------------------------------------------------------------------------ data


@dataclasses.dataclass(frozen=True)
class TaskData:
    """One source -> target task, ready for training.

    Attributes:
      name: the task's name in tables (``"B->E"``).
      mapping: the shared classes and what was dropped.
      source_features: ``[n, D]`` float32, normalised.
      source_labels: ``[n]`` int32 indices into ``mapping.classes``.
      target_features: ``[m, D]`` float32, normalised: every target row the
        adaptation sees.
      target_files: ``[m]`` utterance ids of the target rows.
      target_labels: ``[m]`` int32 class indices, ``-1`` for rows whose class is
        not shared. Read by :func:`score` (and the explicitly requested oracle)
        only; :func:`fit` never touches it.
    """

    name: str
    mapping: ClassMapping
    source_features: np.ndarray
    source_labels: np.ndarray
    target_features: np.ndarray
    target_files: np.ndarray
    target_labels: np.ndarray = dataclasses.field(repr=False)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.mapping.classes

    @property
    def num_classes(self) -> int:
        return len(self.mapping.classes)

    @property
    def scored(self) -> np.ndarray:
        """Boolean mask of the target rows that are scored (shared classes)."""
        return self.target_labels >= 0


def table_fingerprint(table: Any) -> str:
    """A short SHA-256 of a feature table's rows: features, labels, speakers, files.

    Recorded in every run's ``metrics.json`` (``data_hash``, of the source and
    target tables) so that a sweep never passes off a run made on other data
    (another synthetic build, another feature extraction) as done.
    """
    h = hashlib.sha256()
    features = np.ascontiguousarray(np.asarray(table.features, dtype=np.float32))
    h.update(str(features.shape).encode())
    h.update(features.tobytes())
    for column in (table.labels, table.speakers, table.files):
        text = "" if column is None else "\x1f".join(np.asarray(column).astype(str).tolist())
        h.update(b"\x1e" + text.encode())
    return h.hexdigest()[:16]


def _data_hash(source_print: str, target_print: str) -> str:
    """A run's ``data_hash``: the fingerprints of its source and target tables."""
    return f"{source_print}:{target_print}"


def _normalize(
    xs: np.ndarray,
    xt: np.ndarray,
    speakers: tuple[np.ndarray | None, np.ndarray | None],
    mode: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Label-free z-normalisation of both domains (see :data:`NORMALIZE`)."""
    from dalib.features import Normalizer, zscore

    if mode == "none":
        return xs, xt
    if mode in ("pooled", "source"):
        fit_on = np.concatenate([xs, xt]) if mode == "pooled" else xs
        norm = Normalizer.fit(fit_on)
        return norm.transform(xs), norm.transform(xt)
    if mode == "speaker":
        for side, groups in zip(("source", "target"), speakers, strict=True):
            if groups is None:
                raise ValueError(
                    f"data.normalize='speaker' needs speaker ids, but the {side} table has no "
                    "`speakers` column; use data.normalize=domain or pooled"
                )
        return zscore(xs, speakers[0]), zscore(xt, speakers[1])
    return zscore(xs), zscore(xt)


def prepare_task(
    source: Any,
    target: Any,
    *,
    name: str,
    classes: Sequence[str] | None = None,
    normalize: str = "pooled",
    target_rows: str = "shared",
) -> TaskData:
    """Maps classes, normalises each domain on its own, and separates the target labels.

    Args:
      source: a :class:`dalib.data.FeatureTable` (labelled source corpus).
      target: a :class:`dalib.data.FeatureTable` (target corpus).
      name: the task name.
      classes: the protocol's class set (default: the classes both share).
      normalize: ``"pooled"``, ``"source"``, ``"domain"``, ``"speaker"`` or
        ``"none"`` (see :data:`dalib.experiment.NORMALIZE`).
      target_rows: ``"shared"`` (the adaptation sees the target rows of the
        shared classes, the published protocols' target set) or ``"all"``.

    Returns:
      A :class:`TaskData`.

    Raises:
      ValueError: different feature sizes, fewer than two shared classes, a
        class of ``classes`` missing from a table.
    """
    ds, dt = source.features.shape[1], target.features.shape[1]
    if ds != dt:
        raise ValueError(
            f"the source table has {ds} features per row and the target table has {dt}; "
            "both must come from the same feature set (e.g. both IS09, 384 features) — "
            "extract the target again with the source's --set"
        )
    mapping, s_keep, s_y, t_keep, t_y = map_classes(
        source.labels, target.labels, classes=None if not classes else classes
    )
    xs = source.features[s_keep]
    spk_s = None if source.speakers is None else source.speakers[s_keep]
    if target_rows == "all":
        t_rows = np.ones(len(target.labels), dtype=bool)
        yt = np.full(len(target.labels), -1, dtype=np.int32)
        yt[t_keep] = t_y
    else:
        t_rows = t_keep
        yt = t_y
    xt = target.features[t_rows]
    spk_t = None if target.speakers is None else target.speakers[t_rows]
    xs, xt = _normalize(xs, xt, (spk_s, spk_t), normalize)
    files = (
        target.files
        if target.files is not None
        else np.array([f"row{i}" for i in range(len(target.labels))])
    )
    return TaskData(
        name=name,
        mapping=mapping,
        source_features=xs.astype(np.float32),
        source_labels=s_y.astype(np.int32),
        target_features=xt.astype(np.float32),
        target_files=np.asarray(files)[t_rows].astype(str),
        target_labels=yt.astype(np.int32),
    )


# ---------------------------------------------------------------------------- fitting


@dataclasses.dataclass
class Fitted:
    """What :func:`fit` returns (no target label went into any of it).

    Attributes:
      predictions: ``[m]`` predicted class index of every target row.
      scores: ``[m, C]`` class probabilities (deep, ``logreg``) or decision values (``svm``).
      score_kind: ``"probability"`` or ``"decision"``.
      history: training curves ``{name: [values]}`` with a ``step`` entry (deep only).
      selection: the selection record (criterion, candidates, chosen).
      features: ``(source [n, k], target [m, k])`` features after adaptation, or ``None``.
      fit_seconds: wall time of the fit (the first run of a method includes compilation).
    """

    predictions: np.ndarray
    scores: np.ndarray
    score_kind: str
    history: dict[str, list[float]]
    selection: dict[str, Any]
    features: tuple[np.ndarray, np.ndarray] | None
    fit_seconds: float


def _pad(x: np.ndarray) -> np.ndarray:
    rows = max(_BUCKET, -(-x.shape[0] // _BUCKET) * _BUCKET)
    out = np.zeros((rows, *x.shape[1:]), dtype=x.dtype)
    out[: x.shape[0]] = x
    return out


class _DeepProgram:
    """A trainer and its compiled functions, shared by every task and seed of a method."""

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        in_features: int,
        num_classes: int,
        weight_scale: float,
    ):
        from dalib import train as T

        model = build_deep(
            config.method,
            config.options.to_dict(),
            in_features=in_features,
            num_classes=num_classes,
            hidden=tuple(config.model.hidden),
            dropout=float(config.model.dropout),
            steps=int(config.train.steps),
            learning_rate=float(config.train.learning_rate),
            weight_decay=float(config.train.weight_decay),
            ramp=bool(config.train.ramp),
            ramp_gamma=float(config.train.ramp_gamma),
            weight_scale=weight_scale,
        )
        b = int(config.train.batch_size)
        example = T.Batch(
            jnp.zeros((b, in_features), jnp.float32),
            jnp.zeros((b,), jnp.int32),
            jnp.zeros((b, in_features), jnp.float32),
        )
        self.trainer = trainer = T.make_trainer(
            encoder=model.encoder,
            classifier=model.classifier,
            optimizer=model.optimizer,
            terms=model.terms,
            example_batch=example,
        )
        self.batch_size = b
        self.init = jax.jit(trainer.init)
        self._runs: dict[int, Callable] = {}

        def forward(params, x):
            return trainer.forward(params, x)

        self.forward = jax.jit(forward)

    def run(self, length: int) -> Callable:
        """``(state, xs, ys, n, xt, m, key) -> (state, metrics)``: ``length`` steps.

        Step ``t`` draws its minibatch from ``fold_in(k_data, t)`` (uniform with
        replacement over the ``n`` real source rows and ``m`` real target rows of
        the padded arrays), as :func:`dalib.train.run_steps` does, so runs in
        chunks equal one long run. Only source labels enter.
        """
        if length not in self._runs:
            from dalib.train import Batch

            trainer, b = self.trainer, self.batch_size

            def run(state, xs, ys, n, xt, m, key):
                _, k_data, k_step = jax.random.split(key, 3)

                def body(state, _):
                    k_s, k_t = jax.random.split(jax.random.fold_in(k_data, state.step))
                    i = jax.random.randint(k_s, (b,), 0, n)
                    j = jax.random.randint(k_t, (b,), 0, m)
                    return trainer.step(state, Batch(xs[i], ys[i], xt[j]), k_step)

                return jax.lax.scan(body, state, None, length=length)

            self._runs[length] = jax.jit(run)
        return self._runs[length]


_PROGRAMS: dict[tuple, _DeepProgram] = {}


def _program(config, in_features: int, num_classes: int, weight_scale: float) -> _DeepProgram:
    key = (
        config.method,
        json.dumps(config.options.to_dict(), sort_keys=True, default=list),
        json.dumps(config.model.to_dict(), sort_keys=True, default=list),
        json.dumps(config.train.to_dict(), sort_keys=True, default=list),
        in_features,
        num_classes,
        weight_scale,
    )
    if key not in _PROGRAMS:
        if len(_PROGRAMS) > 8:
            _PROGRAMS.clear()
        _PROGRAMS[key] = _DeepProgram(config, in_features, num_classes, weight_scale)
    return _PROGRAMS[key]


def _history(metrics: Mapping[str, np.ndarray], every: int, offset: int) -> dict[str, list]:
    """Means over windows of ``every`` steps; ``step`` is each window's last step."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
    length = len(next(iter(arrays.values()))) if arrays else 0
    starts = range(0, length, every)
    out: dict[str, list] = {"step": [offset + min(s + every, length) for s in starts]}
    for name in sorted(arrays):
        out[name] = [float(arrays[name][s : s + every].mean()) for s in starts]
    return out


def _stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out source rows: ``fraction`` of each class (at least one)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        if len(rows) < 3:
            continue
        k = max(1, round(fraction * len(rows)))
        held[rng.permutation(rows)[:k]] = True
    return held


def _safe_probs(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0)
    return p / p.sum(axis=1, keepdims=True)


def _criterion_score(
    criterion: str,
    *,
    target_probs: np.ndarray,
    val: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    oracle_labels: np.ndarray | None,
    seed: int,
) -> float:
    """The value of a selection criterion for one candidate (see :mod:`dalib.selection`)."""
    from dalib import selection

    if criterion == "snd":
        return float(selection.snd(target_probs))
    if criterion == "entropy":
        return float(selection.prediction_entropy(target_probs))
    if criterion in ("iwv", "dev"):
        train_features, target_features, val_features, val_terms = val
        val_probs, val_labels = val_terms
        weights = selection.importance_weights(
            train_features, target_features, evaluate_at=val_features, seed=seed
        )
        losses = selection.cross_entropy_losses(_safe_probs(val_probs), val_labels)
        return float(getattr(selection, criterion)(losses, weights))
    if criterion == "oracle":
        # The one place outside scoring that reads target labels, reached only
        # when the user asked for oracle selection by name.
        scored = oracle_labels >= 0
        return float(selection.oracle_target_accuracy(oracle_labels[scored], target_probs[scored]))
    raise ValueError(f"unknown selection criterion {criterion!r}")


def _fit_deep(
    config, task: TaskData, seed: int, *, want_features: bool, oracle_labels: np.ndarray | None
) -> Fitted:
    start = time.perf_counter()
    criterion = config.selection.criterion
    steps = int(config.train.steps)
    xs, ys, xt = task.source_features, task.source_labels, task.target_features
    held = None
    if criterion in ("iwv", "dev"):
        held = _stratified_holdout(ys, float(config.selection.validation_fraction), seed)
        xs_train, ys_train = xs[~held], ys[~held]
    else:
        xs_train, ys_train = xs, ys
    if criterion == "last":
        checkpoints, grid = 1, (1.0,)
    else:
        checkpoints = min(int(config.selection.checkpoints), steps)
        grid = tuple(config.selection.grid) or (1.0,)
        if not config.options.to_dict():  # source_only: nothing to scale
            grid = (1.0,)
    bounds = np.linspace(0, steps, checkpoints + 1).round().astype(int)
    xs_p, ys_p, xt_p = _pad(xs_train), _pad(ys_train), _pad(xt)
    n, m = jnp.int32(len(xs_train)), jnp.int32(len(xt))
    key = jax.random.key(seed)
    k_init = jax.random.split(key, 3)[0]

    best = None
    candidates = []
    for scale in grid:
        program = _program(config, xs.shape[1], task.num_classes, scale)
        state = program.init(k_init)
        chunks = []
        for c in range(checkpoints):
            length = int(bounds[c + 1] - bounds[c])
            state, chunk = program.run(length)(state, xs_p, ys_p, n, xt_p, m, key)
            chunks.append(jax.tree.map(np.asarray, chunk))
            if criterion == "last" and c < checkpoints - 1:
                continue
            ft, logits = program.forward(state.params, xt_p)
            probs = np.asarray(jax.nn.softmax(logits[: len(xt)], axis=-1))
            entry = {"step": int(bounds[c + 1]), "weight_scale": scale}
            if criterion != "last":
                val = None
                if held is not None:
                    fs_train, _ = program.forward(state.params, xs_p)
                    fv, lv = program.forward(state.params, _pad(xs[held]))
                    n_val = int(held.sum())
                    val = (
                        np.asarray(fs_train[: len(xs_train)]),
                        np.asarray(ft[: len(xt)]),
                        np.asarray(fv[:n_val]),
                        (np.asarray(jax.nn.softmax(lv[:n_val], axis=-1)), ys[held]),
                    )
                entry["score"] = _criterion_score(
                    criterion,
                    target_probs=probs,
                    val=val,
                    oracle_labels=oracle_labels,
                    seed=seed,
                )
            candidates.append(entry)
            if best is None or _better(criterion, entry.get("score"), best[0].get("score")):
                best = (entry, state.params, probs, chunks.copy(), scale)
    entry, params, probs, chunks, scale = best
    program = _program(config, xs.shape[1], task.num_classes, scale)
    merged = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    history = _history(merged, int(config.train.log_every), 0)
    features = None
    if want_features:
        fs, _ = program.forward(params, _pad(xs))
        ft, _ = program.forward(params, xt_p)
        features = (np.asarray(fs[: len(xs)]), np.asarray(ft[: len(xt)]))
    selection = {
        "criterion": criterion,
        "uses_target_labels": criterion == "oracle",
        "label": _selection_label(criterion, deep=True),
        "candidates": candidates if criterion != "last" else [],
        "chosen": entry,
        "source_rows_held_out": int(held.sum()) if held is not None else 0,
    }
    return Fitted(
        predictions=probs.argmax(axis=1).astype(np.int64),
        scores=probs,
        score_kind="probability",
        history=history,
        selection=selection,
        features=features,
        fit_seconds=time.perf_counter() - start,
    )


def _better(criterion: str, new: float | None, old: float | None) -> bool:
    from dalib.selection import HIGHER_IS_BETTER

    if criterion == "last":
        return True  # the later checkpoint
    if new is None or not math.isfinite(new):
        return False
    if old is None or not math.isfinite(old):
        return True
    name = "oracle_target_accuracy" if criterion == "oracle" else criterion
    return new > old if HIGHER_IS_BETTER[name] else new < old


def _selection_label(criterion: str, *, deep: bool) -> str:
    if not deep:
        return "fixed defaults (shallow method, no selection)"
    if criterion == "last":
        return "fixed budget, last checkpoint (no target labels)"
    if criterion == "oracle":
        return f"{ORACLE_LABEL}: best checkpoint/weight by target accuracy"
    return f"label-free selection by {criterion.upper()} (no target labels)"


def _fit_shallow(config, task: TaskData, seed: int, *, want_features: bool) -> Fitted:
    from dalib.shallow import make_shallow

    start = time.perf_counter()
    method = make_shallow(
        config.method, **config.options.to_dict(), num_classes=task.num_classes, seed=seed
    )
    xs, ys, xt = task.source_features, task.source_labels, task.target_features
    predictions, scores = method.fit_predict(xs, ys, xt)
    features = None
    if want_features:
        zs, zt = method.adapt(xs, ys, xt)
        features = (np.asarray(zs), np.asarray(zt))
    kind = "probability" if getattr(method, "classifier", "svm") == "logreg" else "decision"
    return Fitted(
        predictions=np.asarray(predictions, dtype=np.int64),
        scores=np.asarray(scores, dtype=np.float64),
        score_kind=kind,
        history={},
        selection={
            "criterion": "fixed",
            "uses_target_labels": False,
            "label": _selection_label(config.selection.criterion, deep=False),
            "candidates": [],
            "chosen": {},
            "source_rows_held_out": 0,
        },
        features=features,
        fit_seconds=time.perf_counter() - start,
    )


def fit(
    config: ml_collections.ConfigDict, task: TaskData, seed: int, *, want_features: bool = False
) -> Fitted:
    """Trains ``config.method`` on a task for one seed and predicts every target row.

    Reads ``task.source_features``, ``task.source_labels`` and
    ``task.target_features``; ``task.target_labels`` is passed on only when
    ``config.selection.criterion == "oracle"``.

    Args:
      config: a resolved config (:func:`dalib.experiment.resolve_config`).
      task: from :func:`prepare_task`.
      seed: the seed (initialisation, minibatches, dropout, solver).
      want_features: also return the features after adaptation (for t-SNE).

    Returns:
      A :class:`Fitted`.
    """
    oracle = task.target_labels if config.selection.criterion == "oracle" else None
    with _single_threaded_blas():
        if is_deep(config.method):
            return _fit_deep(config, task, seed, want_features=want_features, oracle_labels=oracle)
        return _fit_shallow(config, task, seed, want_features=want_features)


def _single_threaded_blas():
    """One BLAS/LAPACK thread while fitting.

    The matrices here are small (batches, kernel matrices of a few hundred
    rows); multi-threaded OpenBLAS (which also serves JAX's CPU LAPACK calls)
    spins its threads and was 10-50x slower on a shared 2-core machine (IDA's
    Cholesky inside the training scan, JDA's eigensolver), and one thread keeps
    the results independent of the machine's thread count.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


# ---------------------------------------------------------------------------- scoring


def score(task: TaskData, predictions: np.ndarray) -> dict[str, Any]:
    """UAR, WAR, UF1, per-class recall and the confusion matrix on the scored target rows."""
    mask = task.scored
    y = task.target_labels[mask]
    p = np.asarray(predictions)[mask]
    c = task.num_classes
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
    }


def method_label(config: ml_collections.ConfigDict) -> str:
    """The row name of a method in the results tables (oracle rows say so)."""
    name = config.method
    if not is_deep(name) or config.selection.criterion == "last":
        return name
    if config.selection.criterion == "oracle":
        return f"{name} [{ORACLE_LABEL}]"
    return f"{name} [sel: {config.selection.criterion}]"


def _plots(config, run: RunDir, task: TaskData, fitted: Fitted, seed: int) -> list[str]:
    from dalib.experiment import plots

    kinds = tuple(config.plots.kinds)
    limit = int(config.plots.get("seeds", 0))
    if limit and seed >= config.first_seed + limit:
        return []
    written = []
    mask = task.scored
    title = f"{method_label(config)} {task.name} seed {seed}"
    if "confusion" in kinds:
        cm = np.asarray(score(task, fitted.predictions)["confusion_matrix"])
        plots.plot_confusion(cm, task.classes, run.path / "confusion.png", title=title)
        written.append("confusion.png")
    if "curves" in kinds and fitted.history:
        plots.plot_curves(fitted.history, run.path / "curves.png", title=title)
        written.append("curves.png")
    if "tsne" in kinds and fitted.features is not None:
        fs, ft = fitted.features
        panels = {
            "before": (task.source_features, task.target_features[mask]),
            "after": (fs, ft[mask]),
        }
        plots.plot_tsne(
            panels,
            task.source_labels,
            task.target_labels[mask],  # colours only
            task.classes,
            run.path / "tsne.png",
            seed=seed,
            max_points=int(config.plots.tsne_max_points),
        )
        written.append("tsne.png")
    return written


def _history_csv(history: Mapping[str, Sequence[float]]) -> str:
    buf = io.StringIO()
    names = list(history)
    writer = csv.writer(buf)
    writer.writerow(names)
    for row in zip(*(history[n] for n in names), strict=True):
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def run_one(
    config: ml_collections.ConfigDict,
    task: TaskData,
    seed: int,
    run_dir: str | Path,
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Fits, scores and writes one run; returns its metrics record.

    The directory is cleared first if an earlier attempt left it incomplete;
    ``COMPLETE`` is written only after every other file.
    """
    import dalib

    total_start = time.perf_counter()
    run = RunDir(run_dir)
    run.start()
    digest = config_hash(config)
    run.write_json("config.json", {**config.to_dict(), "seed": seed, "config_hash": digest})
    tsne_seeds = int(config.plots.tsne_seeds)
    if int(config.plots.get("seeds", 0)):
        tsne_seeds = min(tsne_seeds, int(config.plots.seeds))
    want_tsne = "tsne" in config.plots.kinds and seed < config.first_seed + tsne_seeds
    fitted = fit(config, task, seed, want_features=want_tsne)
    scores = score(task, fitted.predictions)
    mask = task.scored
    classes = task.classes
    run.write_predictions(
        task.target_files[mask],
        [classes[i] for i in task.target_labels[mask]],
        [classes[i] for i in fitted.predictions[mask]],
        fitted.scores[mask],
        classes,
        prefix="p_" if fitted.score_kind == "probability" else "score_",
    )
    if fitted.history:
        atomic_write_text(run.path / "history.csv", _history_csv(fitted.history))
    written = _plots(config, run, task, fitted, seed)
    record = {
        "method": config.method,
        "label": method_label(config),
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
        "num_source": len(task.source_labels),
        "num_target_adapted": len(task.target_labels),
        "num_target_scored": int(mask.sum()),
        "selection": fitted.selection,
        "timing": {
            "fit_seconds": round(fitted.fit_seconds, 3),
            "run_seconds": round(time.perf_counter() - total_start, 3),
            "note": "the first run of a method in a process includes JIT compilation",
        },
        "plots": written,
        "config_hash": digest,
        "dalib_version": dalib.__version__,
        **(dict(extra) if extra else {}),
    }
    run.write_json("metrics.json", record)
    run.finish()
    return record


# ----------------------------------------------------------------------------- sweeps


@dataclasses.dataclass
class RunFailure:
    """A run that raised: where, and the error."""

    method: str
    task: str
    seed: int
    path: str
    error: str


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_pair` / :func:`run_protocol` return."""

    records: list[dict[str, Any]]
    failures: list[RunFailure]
    skipped: int
    ran: int
    tables: dict[str, ResultsTable]
    missing: int

    @property
    def ok(self) -> bool:
        """True when every requested run finished."""
        return not self.failures and self.missing == 0


def _seeds(config) -> list[int]:
    return list(range(int(config.first_seed), int(config.first_seed) + int(config.seeds)))


def _task_dirname(name: str) -> str:
    return name.replace("->", "_to_").replace("/", "_").replace(" ", "_")


def _check_existing(run: RunDir, digest: str, data_hash: str | None = None) -> bool:
    """True if ``run`` is complete for this config and data; raises if for others."""
    if not run.is_complete():
        return False
    try:
        record = run.read_json("metrics.json")
    except (OSError, ValueError):
        record = {}
    old = record.get("config_hash")
    if old != digest:
        raise ConfigMismatchError(
            f"{run.path} holds a finished run made with another configuration (hash {old}, "
            f"now {digest}); write to a new --out folder, or delete that folder to redo it"
        )
    old_data = record.get("data_hash")
    if data_hash is not None and old_data != data_hash:
        raise ConfigMismatchError(
            f"{run.path} holds a finished run made on other data (feature tables {old_data}, "
            f"now {data_hash}: another synthetic build, corpus or feature extraction); write "
            "to a new --out folder, or delete that folder to redo it"
        )
    return True


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True)


def _sweep(
    jobs: list[tuple[ml_collections.ConfigDict, str, int, Path]],
    load_task: Callable[[str, ml_collections.ConfigDict], TaskData],
    *,
    progress: bool,
    data_hashes: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> tuple[list[dict], list[RunFailure], int, int]:
    # Refuse up front to mix configurations or data in one folder.
    pending = []
    skipped = 0
    records: list[dict] = []
    for config, task_name, seed, path in jobs:
        run = RunDir(path)
        if _check_existing(run, config_hash(config), data_hashes[task_name]):
            records.append(run.read_json("metrics.json"))
            skipped += 1
        else:
            pending.append((config, task_name, seed, path))
    failures: list[RunFailure] = []
    bar = _progress(len(pending), progress and bool(pending))
    tasks: dict[tuple, TaskData] = {}
    ran = 0
    try:
        for config, task_name, seed, path in pending:
            if bar is not None:
                bar.set_description(f"{config.method} {task_name} seed {seed}")
            key = (task_name, config.data.normalize, config.data.target_rows)
            if key not in tasks:
                # Bad data is the user's to fix, not a per-run failure: stop here.
                tasks[key] = load_task(task_name, config)
            run_extra = {**(dict(extra) if extra else {}), "data_hash": data_hashes[task_name]}
            try:
                records.append(run_one(config, tasks[key], seed, path, extra=run_extra))
                ran += 1
            except (KeyboardInterrupt, ConfigMismatchError):
                raise
            except Exception as err:  # a failed run must not stop the sweep
                failures.append(
                    RunFailure(
                        config.method, task_name, seed, str(path), f"{type(err).__name__}: {err}"
                    )
                )
                print(
                    f"error: run {config.method} {task_name} seed {seed} failed: "
                    f"{type(err).__name__}: {err}\n  its folder {path} is left incomplete; fix the "
                    "cause and run the same command again to redo it",
                    file=sys.stderr,
                )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return records, failures, skipped, ran


def write_tables(
    records: Sequence[Mapping[str, Any]],
    out: str | Path,
    *,
    methods: Sequence[str],
    tasks: Sequence[str],
    expected: int,
    note: str = "",
) -> dict[str, ResultsTable]:
    """Writes ``results_uar.{md,csv}`` and ``results_war.{md,csv}``; returns the tables.

    ``methods`` are row labels (:func:`method_label`). When fewer than
    ``expected`` runs are in ``records`` the note says the table is incomplete.
    """
    out = Path(out)
    rows = [{**r, "method": r.get("label", r["method"])} for r in records]
    missing = expected - len(rows)
    lines = [note] if note else []
    if any(ORACLE_LABEL in m for m in methods):
        lines.append(
            f"Rows marked [{ORACLE_LABEL}] picked their checkpoint/weights with the target "
            "labels: they are not valid unsupervised results."
        )
    if missing > 0:
        lines.append(f"INCOMPLETE: {missing} of {expected} requested runs have not finished.")
    tables = {}
    for metric in ("uar", "war"):
        table = ResultsTable(
            rows, metric=metric, methods=methods, tasks=tasks, note="\n\n".join(lines)
        )
        atomic_write_text(out / f"results_{metric}.md", table.to_markdown() + "\n")
        atomic_write_text(out / f"results_{metric}.csv", table.to_csv())
        tables[metric] = table
    return tables


def _corpora_label(config) -> str:
    if config.corpora.root or config.corpora.tables:
        return "user"
    return f"synthetic, build seed {int(config.corpora.synth_seed)}"


def _selection_note(config, methods: Sequence[str] = ()) -> str:
    criterion = config.selection.criterion
    deep = "deep methods: " + _selection_label(criterion, deep=True)
    if criterion != "last":
        deep += f" over {config.selection.checkpoints} checkpoint(s)"
        if tuple(config.selection.grid):
            deep += f" x weight multipliers {tuple(config.selection.grid)}"
    return (
        f"Model selection — {deep}; shallow methods: fixed defaults. "
        f"Budget: {config.train.steps} steps, batch {config.train.batch_size} per domain; "
        f"Features z-normalised: {config.data.normalize}"
        + (" (corpus_norm: each corpus on its own)." if "corpus_norm" in methods else ".")
    )


def run_pair(
    config: ml_collections.ConfigDict,
    source: Any,
    target: Any,
    out: str | Path,
    *,
    task_name: str | None = None,
    progress: bool = True,
) -> SweepResult:
    """Runs ``config.method`` on one source -> target pair for every seed.

    Args:
      config: a config (resolved here).
      source: a :class:`dalib.data.FeatureTable`.
      target: a :class:`dalib.data.FeatureTable`.
      out: the output folder: ``out/<method>/seed_<k>/`` per run, the tables in ``out``.
      task_name: the task's name in the table (default ``"source->target"``).
      progress: show a progress bar on stderr.

    Returns:
      A :class:`SweepResult`.
    """
    config = resolve_config(config)
    name = task_name or "source->target"
    task = prepare_task(
        source,
        target,
        name=name,
        classes=tuple(config.data.classes),
        normalize=config.data.normalize,
        target_rows=config.data.target_rows,
    )  # fails here, before any folder is written, on bad input
    out = Path(out)
    jobs = [(config, name, s, out / config.method / f"seed_{s}") for s in _seeds(config)]
    records, failures, skipped, ran = _sweep(
        jobs,
        lambda _name, _config: task,  # every job shares this config
        progress=progress,
        data_hashes={name: _data_hash(table_fingerprint(source), table_fingerprint(target))},
    )
    label = method_label(config)
    tables = {}
    if records:
        tables = write_tables(
            records,
            out,
            methods=[label],
            tasks=[name],
            expected=len(jobs),
            note=_selection_note(config, [config.method])
            + " Classes: "
            + task.mapping.describe()
            + ".",
        )
    return SweepResult(records, failures, skipped, ran, tables, len(jobs) - len(records))


def _load_protocol_tables(config, out: Path) -> dict[str, Any]:
    """The three SER corpora as feature tables, keyed by code (B, E, C)."""
    from dalib.data import FeatureTable, corpus_to_table, load_table

    corpora = config.corpora
    feature_set = corpora.feature_set
    if corpora.tables:
        paths = {}
        for item in str(corpora.tables).split(","):
            if "=" not in item:
                raise ValueError(
                    f"--tables expects CODE=PATH items separated by commas (B=emodb.npz,...), "
                    f"got {item!r}"
                )
            code, path = item.split("=", 1)
            paths[code.strip().upper()] = Path(path.strip())
        return {code: load_table(path) for code, path in paths.items()}
    if corpora.root:
        root = Path(corpora.root)
        if not root.is_dir():
            raise FileNotFoundError(
                f"--root {root} is not a folder; it must hold the corpora in their original "
                f"layouts as subfolders {sorted(SER_CORPORA.values())}"
            )
        tables = {}
        for code, corpus in SER_CORPORA.items():
            cache = out / "features" / f"{corpus}_{feature_set}.npz"
            if not cache.is_file():
                corpus_to_table(corpus, root / corpus, feature_set, cache)
            tables[code] = load_table(cache)
        return tables
    from dalib.synth import default_root, load_manifest, load_synthetic_table, resolve_corpus

    build_seed = int(corpora.get("synth_seed", 0))
    if build_seed < 0:
        raise ValueError(f"corpora.synth_seed must be >= 0, got {build_seed}")
    root = Path(corpora.synth_root) if corpora.synth_root else default_root()
    if build_seed != 0:  # build 0 sits in the root itself, others in seed_<k>/
        root = root / f"seed_{build_seed}"
    tables = {}
    for code in SER_CORPORA:
        corpus_dir = root / resolve_corpus(code).name
        try:
            found = load_manifest(corpus_dir)["seed"]
        except FileNotFoundError:
            found = None  # not built yet: load_synthetic_table builds it
        if found is not None and found != build_seed:
            raise ValueError(
                f"{corpus_dir} holds a synthetic build with seed {found}, but "
                f"corpora.synth_seed is {build_seed}; point --synth-root at another folder "
                "or delete that one"
            )
        # Renders the corpus again when the build is not current (older generator, subset).
        data = load_synthetic_table(code, feature_set, root=root, build=True, seed=build_seed)
        if isinstance(data, Mapping):  # older dalib.synth returned a dict of arrays
            data = FeatureTable(
                features=np.asarray(data["features"], dtype=np.float32),
                labels=np.asarray(data["labels"]).astype(str),
                speakers=np.asarray(data["speakers"]).astype(str) if "speakers" in data else None,
                files=np.asarray(data["files"]).astype(str) if "files" in data else None,
            )
        tables[code] = data
    return tables


def run_protocol(
    config: ml_collections.ConfigDict, out: str | Path, *, progress: bool = True
) -> SweepResult:
    """Runs every method of ``config.methods`` on every SER task for every seed.

    The corpora come from ``config.corpora``: the synthetic ones (built and
    cached on first use), a ``root`` with the real corpora in their original
    layouts (features extracted once into ``out/features``), or ``tables``
    (``B=...,E=...,C=...``). Layout: ``out/<method>/<task>/seed_<k>/``, tables
    in ``out``.

    Returns:
      A :class:`SweepResult`.

    Raises:
      ValueError: an unknown method or task, bad corpora settings.
      ConfigMismatchError: ``out`` holds finished runs of another configuration.
    """
    if config.get("protocol", "ser") != "ser":
        raise ValueError(f"protocol {config.protocol!r} is not available; only 'ser' is.")
    methods = list(config.methods)
    if not methods:
        raise ValueError("no methods given; pass e.g. --methods source_only,dann")
    tasks = ser_tasks(list(config.tasks) or None)
    resolved = {}
    for name in methods:
        c = ml_collections.ConfigDict(config.to_dict())
        c.method = name
        if name != config.get("method", name):
            c.options = ml_collections.ConfigDict()  # options of another method do not carry
        resolved[name] = resolve_config(c)
    out = Path(out)
    jobs = [
        (resolved[m], t.name, s, out / m / _task_dirname(t.name) / f"seed_{s}")
        for m in methods
        for t in tasks
        for s in _seeds(config)
    ]
    by_name = {t.name: t for t in tasks}
    tables = _load_protocol_tables(config, out)
    for t in tasks:
        for code in (t.source, t.target):
            if code not in tables:
                raise ValueError(f"no table for corpus {code} ({SER_CORPORA[code]})")
    prints = {code: table_fingerprint(table) for code, table in tables.items()}
    data_hashes = {t.name: _data_hash(prints[t.source], prints[t.target]) for t in tasks}

    def load_task(name: str, c: ml_collections.ConfigDict) -> TaskData:
        t = by_name[name]
        return prepare_task(
            tables[t.source],
            tables[t.target],
            name=t.name,
            classes=t.classes,
            normalize=c.data.normalize,
            target_rows=c.data.target_rows,
        )

    corpora = "synthetic" if not (config.corpora.root or config.corpora.tables) else "user"
    extra: dict[str, Any] = {"protocol": "ser", "corpora": corpora}
    if corpora == "synthetic":
        extra["synth_seed"] = int(config.corpora.synth_seed)
    records, failures, skipped, ran = _sweep(
        jobs, load_task, progress=progress, data_hashes=data_hashes, extra=extra
    )
    labels = [method_label(resolved[m]) for m in methods]
    tables = {}
    if records:
        tables = write_tables(
            records,
            out,
            methods=labels,
            tasks=[t.name for t in tasks],
            expected=len(jobs),
            note=_selection_note(config, methods)
            + f" Corpora: {_corpora_label(config)} ({config.corpora.feature_set}).",
        )
    return SweepResult(records, failures, skipped, ran, tables, len(jobs) - len(records))
