r"""Sweeps: one pair of tables, or any protocol, through one generic loop.

Each run is :func:`dalib.experiment.run_one` (:mod:`dalib.experiment.runs`).
:func:`run_pair` and :func:`run_protocol` run many of those through one
generic sweep, skip complete run folders (an interrupted sweep resumes),
refuse folders made with another configuration or other data, and write the
results tables.

:func:`run_protocol` also splits a sweep over processes or machines
(``shard=(i, N)``: a fixed 1/N of the runs into one shared folder) and
tabulates a folder without training
(``tables_only=True``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from dalib.experiment._jobs import (
    ConfigMismatchError,
    _check_existing,
    _check_shard,
    _collect,
    _folder_lock,
    _in_workers,
    _Job,
    _shard_jobs,
)
from dalib.experiment.outputs import RunDir, atomic_write_text
from dalib.experiment.protocols import CorporaSpec, get_protocol, load_protocol_tables
from dalib.experiment.runs import _fit_group, run_one
from dalib.experiment.spec import ORACLE_LABEL, RunSpec, describe_selection
from dalib.experiment.tables import ResultsTable
from dalib.experiment.task import Task, prepare_task, table_fingerprint

__all__ = [
    "ConfigMismatchError",
    "RunFailure",
    "SweepResult",
    "run_pair",
    "run_protocol",
    "write_tables",
]


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
    """What :func:`run_pair` / :func:`run_protocol` return.

    ``records``, ``skipped``, ``ran`` and ``missing`` count the runs this call
    was asked for: with ``shard=(i, N)`` those of shard ``i``, with
    ``tables_only`` every run of the sweep (``skipped`` the complete ones,
    ``missing`` the others). ``incomplete`` names the run folders of the whole
    sweep (relative to ``out``) that have no ``COMPLETE`` marker, in sweep
    order; ``total`` is the number of runs of the whole sweep.
    """

    records: list[dict[str, Any]]
    failures: list[RunFailure]
    skipped: int
    ran: int
    tables: dict[str, ResultsTable]
    missing: int
    incomplete: list[str] = dataclasses.field(default_factory=list)
    total: int | None = None

    @property
    def ok(self) -> bool:
        """True when every requested run finished."""
        return not self.failures and self.missing == 0


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True)


def _sweep(
    jobs: Sequence[_Job],
    load_task: Callable[[str, RunSpec], Task],
    *,
    progress: bool,
    data_hashes: Mapping[str, str],
    extra: Mapping[str, Any],
    save_model: bool,
) -> tuple[list[dict], list[RunFailure], int, int]:
    pending: list[_Job] = []
    records: list[dict] = []
    for job in jobs:  # refuse up front to mix configurations or data in one folder
        run = RunDir(job.path)
        if _check_existing(run, job.spec.hash, data_hashes[job.task]):
            records.append(run.read_json("metrics.json"))
        else:
            pending.append(job)
    skipped = len(records)
    failures: list[RunFailure] = []
    bar = _progress(len(pending), progress and bool(pending))
    tasks: dict[tuple, Task] = {}
    groups: dict[tuple, list[_Job]] = {}  # the seeds of one method and task train together
    for job in pending:
        groups.setdefault((job.spec.hash, job.spec.method, job.task), []).append(job)
    ran = 0

    def fail(job: _Job, err: Exception) -> None:
        failures.append(
            RunFailure(
                job.spec.method, job.task, job.seed, str(job.path), f"{type(err).__name__}: {err}"
            )
        )
        print(
            f"error: run {job.spec.method} {job.task} seed {job.seed} failed: "
            f"{type(err).__name__}: {err}\n  its folder {job.path} is left incomplete; "
            "fix the cause and run the same command again to redo it",
            file=sys.stderr,
        )

    try:
        for group in groups.values():
            first = group[0]
            if bar is not None:
                bar.set_description(f"{first.spec.method} {first.task}")
            key = (first.task, first.spec.data)
            if key not in tasks:  # bad data is the user's to fix: stop the sweep here
                tasks[key] = load_task(first.task, first.spec)
            task = tasks[key]
            run_extra = {**extra, "data_hash": data_hashes[first.task]}
            try:
                fits = _fit_group(first.spec, task, [j.seed for j in group])
            except (KeyboardInterrupt, ConfigMismatchError):
                raise
            except Exception as err:  # a failed run must not stop the sweep
                for job in group:
                    fail(job, err)
                fits = [None] * len(group)
            for job, fitted in zip(group, fits, strict=True):
                if fitted is None:
                    continue
                try:
                    records.append(
                        run_one(
                            job.spec,
                            task,
                            job.seed,
                            job.path,
                            extra=run_extra,
                            save_model=save_model,
                            fitted=fitted,
                        )
                    )
                    ran += 1
                except (KeyboardInterrupt, ConfigMismatchError):
                    raise
                except Exception as err:
                    fail(job, err)
            if bar is not None:
                bar.update(len(group))
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
    missing: int = 0,
    total: int | None = None,
    metrics: Sequence[str] = ("uar", "war"),
    note: str = "",
    summary: str | None = None,
) -> dict[str, ResultsTable]:
    """Writes ``results_<metric>.{md,csv}`` for each metric; returns the tables.

    ``methods`` are row labels (:attr:`RunSpec.label`). ``missing`` requested
    runs (of ``total``) that have not finished make the note say the table is
    incomplete.
    ``summary`` is passed to :class:`ResultsTable` (a pooled ``overall`` column).
    """
    out = Path(out)
    rows = [{**r, "method": r.get("label", r["method"])} for r in records]
    lines = [note] if note else []
    if any(ORACLE_LABEL in m for m in methods):
        lines.append(
            f"Rows marked [{ORACLE_LABEL}] picked their checkpoint/weights with the target "
            "labels: they are not valid unsupervised results."
        )
    if missing > 0:
        of = f" of {total}" if total is not None else ""
        lines.append(f"INCOMPLETE: {missing}{of} requested runs have not finished.")
    tables = {}
    for metric in metrics:
        table = ResultsTable(
            rows,
            metric=metric,
            methods=methods,
            tasks=tasks,
            note="\n\n".join(lines),
            summary=summary,
        )
        atomic_write_text(out / f"results_{metric}.md", table.to_markdown() + "\n")
        atomic_write_text(out / f"results_{metric}.csv", table.to_csv())
        tables[metric] = table
    return tables


def _selection_note(specs: Sequence[RunSpec]) -> str:
    first = specs[0]
    sel = first.selection
    deep = "deep methods: " + describe_selection(sel.criterion)
    if sel.criterion != "last":
        deep += f" over {sel.checkpoints} checkpoint(s)"
        if sel.grid:
            deep += f" x weight multipliers {sel.grid}"
    methods = [s.method for s in specs]
    return (
        f"Model selection — {deep}; shallow methods: fixed defaults. "
        f"Budget: {first.train.steps} steps, batch {first.train.batch_size} per domain; "
        f"Features z-normalised: {first.config['data']['normalize']}"
        + (" (corpus_norm: each corpus on its own)." if "corpus_norm" in methods else ".")
    )


def _check_groups(specs: Sequence[RunSpec], tables: Mapping[str, Any]) -> None:
    """Refuses, before any run, a region method on tables without feature ``groups``."""
    needs = [s.method for s in specs if s.entry.needs_groups]
    missing = [name for name, t in tables.items() if getattr(t, "groups", None) is None]
    if needs and missing:
        raise ValueError(
            f"method(s) {needs} need the tables' feature `groups` (the face region or openSMILE "
            f"LLD of each column), but the table(s) of {missing} have none; extract them with "
            "`dalib features --set lbptop` or an openSMILE set (whose column names give the "
            "LLD), or pass --groups to `dalib import-mat`"
        )


def _seed_dir(seed: int) -> str:
    return f"seed_{seed}"


def _task_dirname(name: str) -> str:
    return name.replace("->", "_to_").replace("/", "_").replace(" ", "_")


def run_pair(
    config: ml_collections.ConfigDict | RunSpec,
    source: Any,
    target: Any,
    out: str | Path,
    *,
    task_name: str | None = None,
    progress: bool = True,
) -> SweepResult:
    """Runs one method on one source -> target pair for every seed.

    Args:
      config: a config (unpacked here into a :class:`RunSpec`) or a spec.
      source: a labelled :class:`dalib.data.FeatureTable`.
      target: a :class:`dalib.data.FeatureTable`, labelled, partly labelled or unlabelled.
      out: the output folder: ``out/<method>/seed_<k>/`` per run, the tables in ``out``.
      task_name: the task's name in the table (default ``"source->target"``).
      progress: show a progress bar on stderr.

    Returns:
      A :class:`SweepResult`.
    """
    spec = config if isinstance(config, RunSpec) else RunSpec.from_config(config)
    save = bool(spec.config.get("save_model", False))
    name = task_name or "source->target"
    _check_groups([spec], {"source": source, "target": target})
    task = prepare_task(
        source,
        target,
        name=name,
        classes=spec.data.classes,
        normalize=spec.data.normalize,
        target_rows=spec.data.target_rows,
    )  # fails here, before any folder is written, on bad input
    out = Path(out)
    jobs = [_Job(spec, name, s, out / spec.method / _seed_dir(s)) for s in spec.seeds]
    data_hash = f"{table_fingerprint(source)}:{table_fingerprint(target)}"
    records, failures, skipped, ran = _sweep(
        jobs,
        lambda _name, _spec: task,
        progress=progress,
        data_hashes={name: data_hash},
        extra={},
        save_model=save,
    )
    tables = {}
    if records:
        tables = write_tables(
            records,
            out,
            methods=[spec.label],
            tasks=[name],
            missing=len(jobs) - len(records),
            total=len(jobs),
            note=f"{_selection_note([spec])} Classes: {task.mapping.describe()}. Target rows: "
            f"{spec.data.target_rows} ({task.scored.sum()} of {len(task.target_labels)} scored).",
        )
    done = {r["seed"] for r in records}
    incomplete = [str(j.path.relative_to(out)) for j in jobs if j.seed not in done]
    return SweepResult(
        records, failures, skipped, ran, tables, len(jobs) - len(records), incomplete, len(jobs)
    )


def run_protocol(
    config: ml_collections.ConfigDict,
    out: str | Path,
    *,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    tables_only: bool = False,
    workers: int | str = 1,
    worker_setup: Sequence[str] = (),
) -> SweepResult:
    """Runs every method of ``config.methods`` on every task of ``config.protocol``, every seed.

    The protocol (:func:`dalib.experiment.get_protocol`) says the domains,
    tasks, class sets and metrics; ``config.corpora`` where the tables come
    from (:class:`dalib.experiment.CorporaSpec`). Layout:
    ``out/<method>/<task>/seed_<k>/``, tables in ``out``.

    Across processes or machines, run the same call with ``shard=(i, N)`` for
    ``i = 1..N`` into one shared ``out`` (at once or not): shard ``i`` runs a
    fixed ``1/N`` of the runs, whole groups (the seeds of one method on one
    task, which train together), dealt round-robin over the groups sorted by
    method and task, so that every run belongs to exactly one shard. A shard
    writes only its own run folders; it writes the tables only if, once its
    own runs are done, every run of the sweep is complete (so the last shard
    to finish writes them). ``tables_only=True`` trains nothing: it writes the
    tables from the complete runs in ``out`` (marked ``INCOMPLETE`` when some
    are missing, listed in :attr:`SweepResult.incomplete`).

    Args:
      config: a protocol config (:func:`dalib.experiment.protocol_config`).
      out: the output folder.
      progress: show a progress bar on stderr.
      shard: ``(i, N)``, shard ``i`` of ``N`` counted from 1; ``None`` runs everything.
      tables_only: tabulate the runs in ``out`` without training.
      workers: ``k > 1`` runs the pending runs as ``k`` shards in local worker
        processes, one per core, single-threaded (:mod:`dalib.experiment.workers`;
        results equal to float round-off, faster on a CPU), then finishes here
        whatever they left;
        ``"auto"``: one per usable core on a CPU backend, 1 on a GPU/TPU. Methods
        registered at run time need ``worker_setup``, else the sweep stays in
        this process.
      worker_setup: config files each worker executes first (they register methods).

    Returns:
      A :class:`SweepResult`.

    Raises:
      ValueError: an unknown protocol, method or task, bad corpora settings, a
        bad ``shard``, ``shard`` with ``tables_only``, or ``tables_only`` on a
        folder that does not exist.
      ConfigMismatchError: ``out`` holds finished runs of another configuration or data.
    """
    shard = _check_shard(shard)
    if shard is not None and tables_only:
        raise ValueError(
            "shard and tables_only exclude each other: tables_only tabulates every shard's runs"
        )
    out = Path(out)
    if tables_only and not out.is_dir():
        raise ValueError(
            f"{out} is not a folder, so it holds no runs to tabulate; run the sweep (or its "
            "shards) into it first"
        )
    protocol = get_protocol(config.get("protocol", "ser"))
    methods = list(config.methods)
    if not methods:
        raise ValueError("no methods given; pass e.g. --methods source_only,dann")
    specs = []
    for name in methods:
        c = ml_collections.ConfigDict(config.to_dict())
        if name != config.get("method", name):
            c.options = ml_collections.ConfigDict()  # options of another method do not carry
        c.method = name
        spec = RunSpec.from_config(c)
        k = int(config.get("shallow_seeds", 0))
        if k > 0 and not spec.deep:
            spec = dataclasses.replace(spec, seeds=spec.seeds[:k])
        specs.append(spec)
    corpora = CorporaSpec.from_config(config.corpora.to_dict(), protocol)
    selected = protocol.select_tasks(list(config.tasks))
    codes = protocol.codes if protocol.kind == "loso" else _codes(selected)
    shared = shard is not None or tables_only  # other processes may be at work in `out`
    with _folder_lock(out) if shared else contextlib.nullcontext():
        tables = load_protocol_tables(
            protocol, corpora, codes, out / "features", input=specs[0].data.input
        )
    _check_groups(specs, tables)
    prints = {code: table_fingerprint(table) for code, table in tables.items()}
    if protocol.kind == "loso":
        from dalib.experiment.composite import loso_folds, pool_tables

        pooled = pool_tables({c: tables[c] for c in protocol.pooled})
        pooled_print = ":".join(prints[c] for c in protocol.pooled)
        pairs = {
            subject: (src, tgt, protocol.classes, f"{pooled_print}:{subject}")
            for subject, (src, tgt) in loso_folds(pooled).items()
        }
    else:
        pairs = {
            t.name: (tables[t.source], tables[t.target], t.classes,
                     f"{prints[t.source]}:{prints[t.target]}")
            for t in selected
        }  # fmt: skip
    jobs = [
        _Job(spec, name, s, out / spec.method / _task_dirname(name) / _seed_dir(s))
        for spec in specs
        for name in pairs
        for s in spec.seeds
    ]

    def load_task(name: str, spec: RunSpec) -> Task:
        source, target, classes, _ = pairs[name]
        return prepare_task(
            source,
            target,
            name=name,
            classes=classes,
            normalize=spec.data.normalize,
            target_rows=spec.data.target_rows,
            require_in_target=protocol.kind != "loso",
        )

    extra: dict[str, Any] = {
        "protocol": protocol.name,
        "corpora": "synthetic" if corpora.kind == "synthetic" else "user",
    }
    if corpora.kind == "synthetic":
        extra["synth_seed"] = corpora.synth_seed
    data_hashes = {name: pair[3] for name, pair in pairs.items()}
    if tables_only:
        records, absent = _collect(jobs, data_hashes)
        failures, skipped, ran, missing = [], len(records), 0, len(absent)
        everything = records
    else:
        todo = jobs if shard is None else _shard_jobs(jobs, *shard)
        by_workers = 0
        if shard is None:
            by_workers = _in_workers(
                config, out, jobs, data_hashes, workers, worker_setup, progress
            )
        records, failures, skipped, ran = _sweep(
            todo,
            load_task,
            progress=progress,
            data_hashes=data_hashes,
            extra=extra,
            save_model=False,
        )
        skipped, ran = skipped - by_workers, ran + by_workers  # the workers' runs ran now
        missing = len(todo) - len(records)
        if shard is None:
            done = {(r["method"], r["task"], r["seed"]) for r in records}
            everything = records
            absent = [j for j in jobs if (j.spec.method, j.task, j.seed) not in done]
        else:  # what every shard has finished so far, read back from disk
            everything, absent = _collect(jobs, data_hashes)
    order = {(j.spec.method, j.task, j.seed): k for k, j in enumerate(jobs)}
    everything = sorted(everything, key=lambda r: order[(r["method"], r["task"], r["seed"])])
    note = (
        _selection_note(specs)
        + f" Corpora: {corpora.label} ({_input_label(specs[0], corpora)}). {protocol.convention}"
    )
    result_tables: dict[str, ResultsTable] = {}
    if shard is not None and absent:
        pass  # other shards are still at work (or failed): tables wait for every run
    elif protocol.kind == "loso":
        from dalib.experiment.composite import OVERALL, summarize_loso

        done = {(r["method"], r["task"], r["seed"]) for r in everything}
        runs = [
            (j.spec.label, j.seed, j.path) for j in jobs if (j.spec.method, j.task, j.seed) in done
        ]
        summary = summarize_loso(runs, protocol.classes, protocol.pooled)
        if summary:
            result_tables = write_tables(
                summary,
                out,
                methods=[s.label for s in specs],
                tasks=[*protocol.pooled, OVERALL],
                missing=len(absent),
                total=len(jobs),
                metrics=protocol.metrics,
                note=note + f" {len(pairs)} folds.",
                summary=OVERALL,
            )
    elif everything:
        result_tables = write_tables(
            everything,
            out,
            methods=[s.label for s in specs],
            tasks=list(pairs),
            missing=len(absent),
            total=len(jobs),
            metrics=protocol.metrics,
            note=note,
        )
    incomplete = [str(j.path.relative_to(out)) for j in absent]
    return SweepResult(
        records, failures, skipped, ran, result_tables, missing, incomplete, len(jobs)
    )


def _input_label(spec: RunSpec, corpora: CorporaSpec) -> str:
    if spec.data.input == "features":
        return corpora.feature_set
    from dalib.features import LOGMEL_DEFAULTS, SEGMENT_DEFAULTS

    return (
        f"log-mel segments: {SEGMENT_DEFAULTS['num_segments']} x "
        f"{SEGMENT_DEFAULTS['segment_frames']} frames x {LOGMEL_DEFAULTS['n_mels']} mels per "
        "utterance"
    )


def _codes(tasks) -> list[str]:
    return list(dict.fromkeys(c for t in tasks for c in (t.source, t.target)))
