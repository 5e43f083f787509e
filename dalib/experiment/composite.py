r"""Pooled leave-one-subject-out protocols (MEGC 2019 composite-database evaluation).

A ``kind="loso"`` :class:`~dalib.experiment.Protocol` pools the tables of its
``pooled`` domains into one table (subjects and files prefixed with the
domain code: ``C/sub01``) and makes one task per subject: the other subjects
are the labelled source, the held-out subject's clips the target. Every method
of the registry runs on these folds unchanged. The results are not averaged
over folds (one subject holds a handful of clips, often not every class):
each method's and seed's predictions of all folds are pooled and scored once,
over all samples (``overall``, the MEGC headline) and per database.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dalib import metrics as _metrics

__all__ = ["loso_folds", "pool_tables", "summarize_loso"]

OVERALL = "overall"


def pool_tables(tables: Mapping[str, Any]) -> Any:
    """One table from several domains' tables; subjects and files prefixed ``CODE/``."""
    from dalib.data import FeatureTable

    dims = {code: t.features.shape[1] for code, t in tables.items()}
    if len(set(dims.values())) != 1:
        raise ValueError(f"pooled tables need one feature size, got {dims}")
    parts = []
    for code, t in tables.items():
        ids = t.subjects if t.subjects is not None else t.speakers
        if ids is None:
            raise ValueError(
                f"domain {code}: a leave-one-subject-out protocol needs `subjects` (or "
                "`speakers`) in every table"
            )
        files = t.files if t.files is not None else np.array([f"row{i}" for i in range(len(t))])
        parts.append((code, t, np.asarray(ids).astype(str), np.asarray(files).astype(str)))
    first = next(iter(tables.values()))
    return FeatureTable(
        features=np.concatenate([t.features for _, t, _, _ in parts]),
        labels=np.concatenate([np.asarray(t.labels).astype(str) for _, t, _, _ in parts]),
        subjects=np.concatenate([np.char.add(f"{c}/", ids) for c, _, ids, _ in parts]),
        files=np.concatenate([np.char.add(f"{c}/", f) for c, _, _, f in parts]),
        groups=getattr(first, "groups", None),
    )


def loso_folds(pooled: Any) -> dict[str, tuple[Any, Any]]:
    """``{subject: (source_table, target_table)}``: each subject held out once."""
    import dataclasses

    def rows(mask: np.ndarray):
        return dataclasses.replace(
            pooled,
            features=pooled.features[mask],
            labels=pooled.labels[mask],
            subjects=pooled.subjects[mask],
            files=pooled.files[mask],
        )

    folds = {}
    for subject in dict.fromkeys(pooled.subjects.tolist()):
        held = pooled.subjects == subject
        folds[subject] = (rows(~held), rows(held))
    return folds


def summarize_loso(
    runs: Sequence[tuple[str, int, Path]],
    classes: Sequence[str],
    codes: Sequence[str],
) -> list[dict[str, Any]]:
    """Pools the folds' predictions per (method label, seed) and scores them.

    Args:
      runs: ``(method label, seed, run folder)`` of every finished fold.
      classes: the class names (index order).
      codes: the pooled domains (the files' prefixes).

    Returns:
      Records with ``task`` in ``codes`` and ``"overall"`` and the metrics
      ``uf1``, ``uar``, ``war`` (``None`` for a domain without scored rows).
    """
    index = {c: i for i, c in enumerate(classes)}
    pooled: dict[tuple[str, int], list[tuple[str, int, int]]] = {}
    for label, seed, path in runs:
        with open(Path(path) / "predictions.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["true"] in index:
                    code = row["file"].split("/", 1)[0]
                    pooled.setdefault((label, seed), []).append(
                        (code, index[row["true"]], index[row["predicted"]])
                    )
    records = []
    c = len(classes)
    for (label, seed), rows in pooled.items():
        codes_arr = np.array([r[0] for r in rows])
        y = np.array([r[1] for r in rows])
        p = np.array([r[2] for r in rows])
        for task in (*codes, OVERALL):
            mask = np.ones(len(rows), bool) if task == OVERALL else codes_arr == task
            record: dict[str, Any] = {"method": label, "task": task, "seed": seed}
            if mask.any():
                record.update(
                    uf1=float(_metrics.uf1(y[mask], p[mask], num_classes=c)),
                    uar=float(_metrics.uar(y[mask], p[mask], num_classes=c)),
                    war=float(_metrics.war(y[mask], p[mask])),
                )
            else:
                record.update(uf1=None, uar=None, war=None)
            records.append(record)
    return records
