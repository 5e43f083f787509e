"""The jobs of a sweep: complete-run checks, shards, the folder lock, local workers.

Private helpers of :mod:`dalib.experiment.sweep`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dalib.experiment.outputs import RunDir
from dalib.experiment.spec import RunSpec


class ConfigMismatchError(ValueError):
    """A complete run directory was made with another configuration or other data."""



@dataclasses.dataclass(frozen=True)
class _Job:
    spec: RunSpec
    task: str
    seed: int
    path: Path


def _group_key(job: _Job) -> tuple[str, str, str]:
    """The seeds of one method (and configuration) on one task: trained together, one shard."""
    return (job.spec.method, job.task, job.spec.hash)


def _check_shard(shard: Any) -> tuple[int, int] | None:
    """``None`` or ``(i, N)`` with ``1 <= i <= N``; raises ``ValueError`` otherwise."""
    if shard is None:
        return None
    ok = isinstance(shard, tuple | list) and len(shard) == 2
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
    if not ok or not 1 <= shard[0] <= shard[1]:
        raise ValueError(
            f"shard must be (i, N) with integers 1 <= i <= N (shard i of N, counted from 1), "
            f"got {shard!r}"
        )
    return int(shard[0]), int(shard[1])


def _shard_jobs(jobs: Sequence[_Job], index: int, count: int) -> list[_Job]:
    r"""The jobs of shard ``index`` (1-based) of ``count``.

    The groups of jobs that train together (:func:`_group_key`) are sorted by
    (method, task, configuration hash) and dealt round-robin: group ``k`` of
    that order goes to shard ``k mod count + 1``. The split depends only on
    the set of jobs (not on their order, nor on which runs are complete), so
    every process of a sweep computes the same one, and each job is in
    exactly one shard for any ``count``.
    """
    keys = sorted({_group_key(j) for j in jobs})
    mine = {key for k, key in enumerate(keys) if k % count == index - 1}
    return [j for j in jobs if _group_key(j) in mine]


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Holds an exclusive lock on ``folder/.dalib.lock`` (POSIX ``flock``; none elsewhere).

    The shards of one sweep take it while they load or build the feature
    tables, so that one process builds a synthetic corpus or extracts a
    ``--root`` corpus and the others then read it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder / ".dalib.lock", "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _collect(
    jobs: Sequence[_Job], data_hashes: Mapping[str, str]
) -> tuple[list[dict], list[_Job]]:
    """The records of the complete runs of ``jobs`` (read from disk) and the other jobs."""
    records, absent = [], []
    for job in jobs:
        run = RunDir(job.path)
        if _check_existing(run, job.spec.hash, data_hashes[job.task]):
            records.append(run.read_json("metrics.json"))
        else:
            absent.append(job)
    return records, absent


def _check_existing(run: RunDir, digest: str, data_hash: str) -> bool:
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
    if old_data != data_hash:
        raise ConfigMismatchError(
            f"{run.path} holds a finished run made on other data (feature tables {old_data}, "
            f"now {data_hash}: another synthetic build, corpus or feature extraction); write "
            "to a new --out folder, or delete that folder to redo it"
        )
    return True



def _in_workers(config, out, jobs, data_hashes, workers, setup, progress) -> int:
    """Runs the pending jobs in local worker processes; returns how many they finished."""
    from dalib.experiment import workers as W

    if workers == 1:
        return 0
    _, pending = _collect(jobs, data_hashes)  # refuses other configs/data before any work
    groups = len({_group_key(j) for j in pending})
    count = W.auto_workers(groups) if workers == "auto" else min(int(workers), groups)
    if count < 2:
        return 0
    if not setup and not all(j.spec.entry.build.__module__.startswith("dalib.") for j in pending):
        return 0  # a method registered at run time: a fresh worker would not know it
    codes = W.run_workers(
        config, out, [j.path for j in pending], workers=count, setup=setup, progress=progress
    )
    if any(codes):
        print(
            f"dalib: {sum(c != 0 for c in codes)} of {count} worker(s) did not finish every run "
            "(see above); the runs they left are run now in this process",
            file=sys.stderr,
        )
    return sum(RunDir(j.path).is_complete() for j in pending)
