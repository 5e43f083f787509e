"""Fitting one method on one task for one seed: deep through :mod:`dalib.train`, or shallow.

:func:`fit_method` receives an :class:`~dalib.experiment.AdaptData` (source
features and labels, target features: no target label) and returns a
:class:`Fitted` with the predictions for every target row. Deep methods train
with :func:`dalib.train.run_steps` — the same scanned loop users call — on data
padded to a multiple of 256 rows with the real row counts passed as traced
values, so one compiled program serves every task and seed of a method.
Optional label-free model selection over checkpoints and weight multipliers
uses :func:`dalib.selection.select`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dalib.experiment import recipes
from dalib.experiment.registry import DeepContext
from dalib.experiment.spec import RunSpec
from dalib.experiment.task import AdaptData

__all__ = ["Fitted", "build_trainer", "fit_method", "fit_seeds"]

_BUCKET = 256  # data arrays are padded to a multiple of this: one compile serves many tasks


@dataclasses.dataclass
class Fitted:
    """What :func:`fit_method` returns (no target label went into any of it).

    Attributes:
      predictions: ``[m]`` predicted class index of every target row.
      scores: ``[m, C]`` class probabilities (deep, ``logreg``) or decision values (``svm``).
      score_kind: ``"probability"`` or ``"decision"``.
      history: training curves ``{name: [values]}`` with a ``step`` entry (deep only).
      selection: the selection record (criterion, candidates, chosen).
      features: ``(source [n, k], target [m, k])`` features after adaptation, or ``None``.
      fit_seconds: wall time of the fit (the first run of a method includes compilation).
      params: the trained parameters (deep methods), for saving the model.
      weight_scale: the alignment-weight multiplier of the chosen model.
      extras: method-specific results to record (e.g. learned region weights).
    """

    predictions: np.ndarray
    scores: np.ndarray
    score_kind: str
    history: dict[str, list[float]]
    selection: dict[str, Any]
    features: tuple[np.ndarray, np.ndarray] | None
    fit_seconds: float
    params: Any = None
    weight_scale: float = 1.0
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)


def _pad(x: np.ndarray) -> np.ndarray:
    rows = max(_BUCKET, -(-x.shape[0] // _BUCKET) * _BUCKET)
    out = np.zeros((rows, *x.shape[1:]), dtype=x.dtype)
    out[: x.shape[0]] = x
    return out


def build_trainer(
    spec: RunSpec,
    in_features: int | tuple[int, ...],
    num_classes: int,
    weight_scale: float = 1.0,
    groups=None,
):
    """The :class:`dalib.train.Trainer` of a deep method (encoder, classifier, terms, optimizer).

    ``in_features`` is the size of a feature row, or the shape of one input row
    (``(segments, frames, mels)`` for log-mel input).
    """
    return _program(spec, in_features, num_classes, weight_scale, groups).trainer


class _Program:
    """A deep method's trainer and its jitted functions, shared by every task and seed."""

    def __init__(
        self,
        spec: RunSpec,
        in_shape: tuple[int, ...],
        num_classes: int,
        weight_scale: float,
        groups=None,
    ):
        from dalib import train as T
        from dalib.experiment.encoders import _encoder

        self.entry = spec.entry
        hidden, dropout = spec.model.hidden, spec.model.dropout
        in_features = int(in_shape[0]) if len(in_shape) == 1 else 0  # feature rows only
        t = spec.train
        recipe = t.recipe  # dalib.experiment.recipes: optimiser, schedule, warm-up, steps
        weight, reversal = recipe.schedules(
            t.steps, ramp=t.ramp, gamma=t.ramp_gamma, weight_scale=weight_scale
        )
        d = int(hidden[-1])
        ctx = DeepContext(
            dict(spec.options), d, num_classes, weight, in_features, groups, dropout, reversal
        )
        parts = spec.entry.build(ctx)
        self.feature_dim = d  # an encoder of the method's own may append columns after these
        classifier = parts.classifier or T.from_nnx(
            lambda rngs: nnx.Linear(d, num_classes, rngs=rngs)
        )
        b = t.batch_size
        example = T.Batch(
            jnp.zeros((b, *in_shape), jnp.float32),
            jnp.zeros((b,), jnp.int32),
            jnp.zeros((b, *in_shape), jnp.float32),
        )
        encoder = getattr(parts, "encoder", None)  # a method's own encoder wins
        self.trainer = trainer = T.make_trainer(
            encoder=encoder if encoder is not None else _encoder(spec, in_shape),
            classifier=classifier,
            optimizer=recipe.make_optimizer(t.learning_rate, t.weight_decay, t.steps),
            terms=parts.terms,
            example_batch=example,
        )
        if recipe.steps == "mcd":
            self.trainer = trainer = recipes.mcd_trainer(
                trainer, recipe, t.learning_rate, t.weight_decay, t.steps
            )
        self.batch_size = b
        self.init = jax.jit(trainer.init)
        self.run_steps = jax.jit(
            functools.partial(T.run_steps, trainer), static_argnames=("num_steps", "batch_size")
        )
        self.forward = jax.jit(lambda params, x: trainer.forward(params, x))
        self._seed_runs: dict[int, Any] = {}

    def train_seeds(self, num_steps: int):
        """``(seeds [S], data, counts) -> (params, metrics, target probs)``, vmapped over seeds.

        Each seed's run is the one :func:`fit_method` makes (init from
        ``split(key(seed), 3)[0]``, :func:`dalib.train.run_steps`), followed by
        the target predictions, all in one compiled program.
        """
        if num_steps not in self._seed_runs:
            from dalib import train as T

            trainer, b = self.trainer, self.batch_size

            def one(seed, data, counts):
                key = jax.random.key(seed)
                state = trainer.init(jax.random.split(key, 3)[0])
                state, metrics = T.run_steps(
                    trainer, state, data, key, num_steps=num_steps, batch_size=b, counts=counts
                )
                _, logits = trainer.forward(state.params, data.target_inputs)
                return state.params, metrics, jax.nn.softmax(logits, axis=-1)

            self._seed_runs[num_steps] = jax.jit(jax.vmap(one, in_axes=(0, None, None)))
        return self._seed_runs[num_steps]


_PROGRAMS: dict[tuple, _Program] = {}


def _program(
    spec: RunSpec,
    in_features: int | tuple[int, ...],
    num_classes: int,
    weight_scale: float,
    groups=None,
) -> _Program:
    groups = np.asarray(groups) if (groups is not None and spec.entry.needs_groups) else None
    if isinstance(in_features, int | np.integer):
        in_features = (int(in_features),)
    in_features = tuple(int(s) for s in in_features)
    key = (
        None if groups is None else groups.tobytes(),
        spec.method,
        json.dumps(dict(spec.options), sort_keys=True, default=list),
        spec.model,
        dataclasses.replace(spec.train, log_every=1),  # logging does not change the program
        in_features,
        num_classes,
        weight_scale,
    )
    cached = _PROGRAMS.get(key)
    if cached is None or cached.entry is not spec.entry:  # a re-registered method builds anew
        if len(_PROGRAMS) > 8:
            _PROGRAMS.clear()
        _PROGRAMS[key] = _Program(spec, in_features, num_classes, weight_scale, groups)
    return _PROGRAMS[key]


def _history(metrics: Mapping[str, np.ndarray], every: int) -> dict[str, list]:
    """Means over windows of ``every`` steps; ``step`` is each window's last step."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
    length = len(next(iter(arrays.values()))) if arrays else 0
    starts = range(0, length, every)
    out: dict[str, list] = {"step": [min(s + every, length) for s in starts]}
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
    val: tuple | None,
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
        train_features, target_features, val_features, (val_probs, val_labels) = val
        if len(val_labels) == 0:
            raise ValueError(
                f"selection {criterion!r} holds out part of each source class for validation, "
                "but every class has fewer than 3 source rows; use selection.criterion=last"
            )
        weights = selection.importance_weights(
            train_features, target_features, evaluate_at=val_features, seed=seed
        )
        losses = selection.cross_entropy_losses(_safe_probs(val_probs), val_labels)
        return float(getattr(selection, criterion)(losses, weights))
    # oracle: the one place outside scoring that reads target labels, reached only
    # when the user asked for oracle selection by name.
    scored = oracle_labels >= 0
    return float(selection.oracle_target_accuracy(oracle_labels[scored], target_probs[scored]))


def _check_diverged(chunk: Mapping[str, np.ndarray], offset: int, spec: RunSpec) -> None:
    """The divergence guard of :mod:`dalib.train` on one chunk of steps."""
    from dalib.train import check_divergence

    del spec
    check_divergence(dict(chunk), first_step=offset)


def _fit_deep(
    spec: RunSpec,
    data: AdaptData,
    seed: int,
    *,
    want_features: bool,
    oracle_labels: np.ndarray | None,
) -> Fitted:
    from dalib import selection as S
    from dalib.train import Batch

    start = time.perf_counter()
    sel, steps = spec.selection, spec.train.steps
    criterion = sel.criterion
    xs, ys, xt = data.source_features, data.source_labels, data.target_features
    held = None
    if criterion in ("iwv", "dev"):
        held = _stratified_holdout(ys, sel.validation_fraction, seed)
    train_rows = slice(None) if held is None else ~held
    xs_train, ys_train = xs[train_rows], ys[train_rows]
    if criterion == "last":
        checkpoints, grid = 1, (1.0,)
    else:
        checkpoints = min(sel.checkpoints, steps)
        grid = sel.grid if (sel.grid and spec.options) else (1.0,)  # source_only: nothing to scale
    bounds = np.linspace(0, steps, checkpoints + 1).round().astype(int)
    padded = Batch(_pad(xs_train), _pad(ys_train), _pad(xt))
    counts = (jnp.int32(len(xs_train)), jnp.int32(len(xt)))
    key = jax.random.key(seed)
    k_init = jax.random.split(key, 3)[0]

    candidates: list[dict[str, Any]] = []
    kept: list[tuple] = []
    for scale in grid:
        program = _program(spec, xs.shape[1:], data.num_classes, scale, data.groups)
        state = program.init(k_init)
        chunks = []
        for c in range(checkpoints):
            length = int(bounds[c + 1] - bounds[c])
            state, chunk = program.run_steps(
                state, padded, key, num_steps=length, batch_size=program.batch_size, counts=counts
            )
            chunk = jax.tree.map(np.asarray, chunk)
            _check_diverged(chunk, int(bounds[c]), spec)
            chunks.append(chunk)
            if criterion == "last" and c < checkpoints - 1:
                continue
            ft, logits = program.forward(state.params, padded.target_inputs)
            probs = np.asarray(jax.nn.softmax(logits[: len(xt)], axis=-1))
            entry: dict[str, Any] = {"step": int(bounds[c + 1]), "weight_scale": scale}
            if criterion != "last":
                val = None
                if held is not None:
                    fs_train, _ = program.forward(state.params, padded.source_inputs)
                    fv, lv = program.forward(state.params, _pad(xs[held]))
                    n_val = int(held.sum())
                    val = (
                        np.asarray(fs_train[: len(xs_train)]),
                        np.asarray(ft[: len(xt)]),
                        np.asarray(fv[:n_val]),
                        (np.asarray(jax.nn.softmax(lv[:n_val], axis=-1)), ys[held]),
                    )
                entry["score"] = _criterion_score(
                    criterion, target_probs=probs, val=val, oracle_labels=oracle_labels, seed=seed
                )
            candidates.append(entry)
            kept.append((state.params, probs, list(chunks), scale))
    chosen, note = len(candidates) - 1, None
    if criterion != "last":
        name = "oracle_target_accuracy" if criterion == "oracle" else criterion
        scores = [c["score"] for c in candidates]
        if any(math.isfinite(v) for v in scores):
            chosen = S.select(scores, name)
        else:
            note = "no candidate had a finite score; the last checkpoint was kept"
    params, probs, chunks, scale = kept[chosen]
    program = _program(spec, xs.shape[1:], data.num_classes, scale, data.groups)
    merged = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    history = _history(merged, spec.train.log_every)
    ends, diagnostics = _diagnose(program, params, data, probs, history, seed)
    features = ends if want_features else None
    record = {
        "criterion": criterion,
        "uses_target_labels": criterion == "oracle",
        "label": spec.selection_label,
        "candidates": candidates if criterion != "last" else [],
        "chosen": candidates[chosen],
        "source_rows_held_out": int(held.sum()) if held is not None else 0,
    }
    if note:
        record["note"] = note
    return Fitted(
        predictions=probs.argmax(axis=1).astype(np.int64),
        scores=probs,
        score_kind="probability",
        history=history,
        selection=record,
        features=features,
        fit_seconds=time.perf_counter() - start,
        params=params,
        weight_scale=scale,
        extras={"diagnostics": diagnostics},
    )


def _diagnose(program: _Program, params, data: AdaptData, probs, history, seed: int):
    """End-of-training features (source, target) and the label-free diagnostics block."""
    from dalib.experiment import diagnostics as D

    xs, xt, d = data.source_features, data.target_features, program.feature_dim
    fs, _ = program.forward(params, _pad(xs))
    ft, _ = program.forward(params, _pad(xt))
    ends = (np.asarray(fs[: len(xs), :d]), np.asarray(ft[: len(xt), :d]))
    keys = D.adversarial_accuracy_keys(program.trainer.terms, history)
    block = D.deep_diagnostics(
        *ends, probs, history, keys, seed=seed, source_inputs=xs, target_inputs=xt
    )
    return ends, block


def _fit_shallow(spec: RunSpec, data: AdaptData, seed: int, *, want_features: bool) -> Fitted:
    start = time.perf_counter()
    entry = spec.entry
    method = entry.build(dict(spec.options), data.num_classes, seed)
    xs, ys, xt = data.source_features, data.source_labels, data.target_features
    kwargs: dict[str, Any] = {}
    if entry.needs_groups:
        kwargs["groups"] = data.groups
    extras: dict[str, Any] = {}
    if hasattr(method, "fit_solution"):  # region methods: keep what they learned
        predictions, scores, solution = method.fit_solution(xs, ys, xt, **kwargs)
        extras["region_importance"] = np.asarray(solution.region_importance).tolist()
    else:
        predictions, scores = method.fit_predict(xs, ys, xt, **kwargs)
    features = None
    if want_features:
        zs, zt = method.adapt(xs, ys, xt, **kwargs)
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
            "label": spec.selection_label,
            "candidates": [],
            "chosen": {},
            "source_rows_held_out": 0,
        },
        features=features,
        fit_seconds=time.perf_counter() - start,
        extras=extras,
    )


def _fit_deep_seeds(
    spec: RunSpec, data: AdaptData, seeds: Sequence[int], *, want_features: Sequence[bool]
) -> list[Fitted]:
    """Fixed-budget deep runs of several seeds as one vmapped program (see ``train_seeds``)."""
    from dalib.train import Batch

    start = time.perf_counter()
    xs, ys, xt = data.source_features, data.source_labels, data.target_features
    padded = Batch(_pad(xs), _pad(ys), _pad(xt))
    counts = (jnp.int32(len(xs)), jnp.int32(len(xt)))
    program = _program(spec, xs.shape[1:], data.num_classes, 1.0, data.groups)
    run = program.train_seeds(spec.train.steps)
    params, metrics, probs = run(jnp.asarray(seeds, dtype=jnp.int32), padded, counts)
    metrics = jax.tree.map(np.asarray, metrics)
    probs = np.asarray(probs)[:, : len(xt)]
    seconds = (time.perf_counter() - start) / len(seeds)
    out = []
    for i, seed in enumerate(seeds):
        chunk = {k: v[i] for k, v in metrics.items()}
        _check_diverged(chunk, 0, spec)
        p_i = jax.tree.map(lambda a, i=i: a[i], params)
        history = _history(chunk, spec.train.log_every)
        ends, diagnostics = _diagnose(program, p_i, data, probs[i], history, seed)
        features = ends if want_features[i] else None
        entry = {"step": spec.train.steps, "weight_scale": 1.0}
        out.append(
            Fitted(
                predictions=probs[i].argmax(axis=1).astype(np.int64),
                scores=probs[i],
                score_kind="probability",
                history=history,
                selection={
                    "criterion": "last",
                    "uses_target_labels": False,
                    "label": spec.selection_label,
                    "candidates": [],
                    "chosen": entry,
                    "source_rows_held_out": 0,
                    "seeds_trained_together": len(seeds),
                },
                features=features,
                fit_seconds=seconds,
                params=p_i,
                extras={"diagnostics": diagnostics},
            )
        )
    return out


def fit_seeds(
    spec: RunSpec,
    data: AdaptData,
    seeds: Sequence[int],
    *,
    want_features: Sequence[bool] | None = None,
    oracle_labels: np.ndarray | None = None,
) -> list[Fitted]:
    """:func:`fit_method` for several seeds of one task.

    With ``train.vmap_seeds`` a deep method at a fixed budget
    (``selection.criterion == "last"``) trains its seeds as one ``vmap``-ped
    compiled program, predictions included. Batched matrix products round
    differently, and training amplifies that: measured on a toy task, source-only
    probabilities agreed to 1.2e-7, DAN's to 0.035, and DANN's adversarial game
    ended elsewhere (different predictions). Hence off by default. Other cases
    loop over :func:`fit_method`.
    """
    want = list(want_features) if want_features is not None else [False] * len(seeds)
    vmapped = spec.train.vmap_seeds and spec.selection.criterion == "last"
    if spec.deep and vmapped and len(seeds) > 1:
        with _single_threaded_blas():
            return _fit_deep_seeds(spec, data, seeds, want_features=want)
    return [
        fit_method(spec, data, s, want_features=w, oracle_labels=oracle_labels)
        for s, w in zip(seeds, want, strict=True)
    ]


def fit_method(
    spec: RunSpec,
    data: AdaptData,
    seed: int,
    *,
    want_features: bool = False,
    oracle_labels: np.ndarray | None = None,
) -> Fitted:
    """Fits ``spec.method`` on a task for one seed and predicts every target row.

    Args:
      spec: the resolved run specification.
      data: what adaptation may see (:attr:`dalib.experiment.Task.adapt`).
      seed: the seed (initialisation, minibatches, dropout, solver).
      want_features: also return the features after adaptation (for t-SNE).
      oracle_labels: the target labels, passed only for ``selection.criterion ==
        "oracle"`` (the caller decides; nothing else reads them).

    Returns:
      A :class:`Fitted`.
    """
    if spec.selection.criterion == "oracle" and spec.deep and oracle_labels is None:
        raise ValueError("oracle selection needs the target labels (oracle_labels).")
    with _single_threaded_blas():
        if spec.deep:
            return _fit_deep(
                spec, data, seed, want_features=want_features, oracle_labels=oracle_labels
            )
        return _fit_shallow(spec, data, seed, want_features=want_features)


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
