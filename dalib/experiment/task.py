r"""A task, split into what adaptation sees and what scoring sees.

:func:`prepare_task` maps the class names of a source and a target table onto
the classes they share, z-normalises the features without labels, and
returns a :class:`Task` whose :attr:`Task.adapt` (an :class:`AdaptData`:
source features and labels, target features, the feature groups) is all that
fitting receives. The target labels stay in :attr:`Task.target_labels`, which
only scoring reads (and the oracle selection, when asked for by name).

Targets may be unlabelled: a table without ``labels``, or with empty strings
for the unlabelled rows. Such rows are adapted to and predicted, never scored.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dalib.experiment.protocols import ClassMapping, map_classes

__all__ = ["AdaptData", "Task", "prepare_task", "table_fingerprint"]


@dataclasses.dataclass(frozen=True)
class AdaptData:
    """Everything a method may see: no target label has a place here.

    Attributes:
      name: the task's name (``"B->E"``).
      classes: the class names, in label-index order.
      source_features: ``[n, D]`` float32, normalised (``[n, segments, frames,
        mels]`` for log-mel input, normalised per mel band).
      source_labels: ``[n]`` int32 indices into ``classes``.
      target_features: ``[m, D]`` (or ``[m, segments, frames, mels]``) float32,
        normalised: every target row adapted to.
      groups: ``[D]`` int feature group (face region, LLD group) of each column, or ``None``.
    """

    name: str
    classes: tuple[str, ...]
    source_features: np.ndarray
    source_labels: np.ndarray
    target_features: np.ndarray
    groups: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclasses.dataclass(frozen=True)
class Task:
    """One source -> target task: the adaptation data and, apart, the scoring labels.

    Attributes:
      adapt: what fitting sees (:class:`AdaptData`).
      mapping: the shared classes and what was dropped.
      target_files: ``[m]`` ids of the target rows.
      target_labels: ``[m]`` int32 class indices, ``-1`` for rows that are not
        scored (unlabelled, or of a class that is not shared). Read by scoring
        (and the explicitly requested oracle selection) only.
      transform: how target features were normalised (``mode`` and, for one
        affine map, ``mean``/``std``/``eps``): what :func:`dalib.experiment.predict`
        applies to new target rows.
    """

    adapt: AdaptData
    mapping: ClassMapping
    target_files: np.ndarray
    target_labels: np.ndarray = dataclasses.field(repr=False)
    transform: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.adapt.name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.adapt.classes

    @property
    def num_classes(self) -> int:
        return self.adapt.num_classes

    @property
    def scored(self) -> np.ndarray:
        """Boolean mask of the target rows that are scored."""
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


def _ids(table: Any) -> np.ndarray | None:
    speakers = getattr(table, "speakers", None)
    return speakers if speakers is not None else getattr(table, "subjects", None)


def _normalize(
    xs: np.ndarray,
    xt: np.ndarray,
    ids: tuple[np.ndarray | None, np.ndarray | None],
    mode: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Label-free z-normalisation of both domains, and the target side's map.

    Rows of rank > 1 (log-mel segments ``[segments, frames, mels]``) are
    normalised per entry of their last axis (per mel band), with statistics
    over every frame of every segment of the rows concerned.
    """
    from dalib.features import Normalizer, zscore

    if xs.ndim > 2:
        per_row = int(np.prod(xs.shape[1:-1]))
        flat = [x.reshape(-1, x.shape[-1]) for x in (xs, xt)]
        rows = tuple(None if g is None else np.repeat(np.asarray(g), per_row) for g in ids)
        zs, zt, transform = _normalize(flat[0], flat[1], rows, mode)
        return zs.reshape(xs.shape), zt.reshape(xt.shape), transform
    if mode == "none":
        return xs, xt, {"mode": "none"}
    if mode == "speaker":
        for side, groups in zip(("source", "target"), ids, strict=True):
            if groups is None:
                raise ValueError(
                    f"data.normalize='speaker' needs speaker (or subject) ids, but the {side} "
                    "table has neither column; use data.normalize=domain or pooled"
                )
        return zscore(xs, ids[0]), zscore(xt, ids[1]), {"mode": "speaker"}
    if mode in ("pooled", "source"):
        norm = Normalizer.fit(np.concatenate([xs, xt]) if mode == "pooled" else xs)
        zs, zt = norm.transform(xs), norm.transform(xt)
        target_norm = norm
    else:  # domain: each table with its own statistics
        zs = Normalizer.fit(xs).transform(xs)
        target_norm = Normalizer.fit(xt)
        zt = target_norm.transform(xt)
    (mean,) = target_norm.means.values()
    (std,) = target_norm.stds.values()
    return zs, zt, {"mode": mode, "mean": mean, "std": std, "eps": target_norm.eps}


def _labels(table: Any) -> np.ndarray:
    """A table's labels as strings, ``""`` for unlabelled rows (all of them if none)."""
    labels = getattr(table, "labels", None)
    n = len(table.features)
    if labels is None:
        return np.full(n, "", dtype=str)
    return np.asarray(labels).astype(str)


def prepare_task(
    source: Any,
    target: Any,
    *,
    name: str,
    classes: Sequence[str] | None = None,
    normalize: str = "pooled",
    target_rows: str = "shared",
    require_in_target: bool = True,
) -> Task:
    """Maps classes, normalises the features, and separates the target labels.

    Args:
      source: a labelled :class:`dalib.data.FeatureTable`.
      target: a :class:`dalib.data.FeatureTable`; its labels may be missing or
        empty strings (unlabelled rows: adapted to, predicted, not scored).
      name: the task name.
      classes: the protocol's class set (default: the classes both share, or the
        source's classes when the target has unlabelled rows).
      normalize: see :data:`dalib.experiment.NORMALIZE`.
      target_rows: ``"shared"`` (the labelled target rows of the shared classes:
        the published protocols' closed-set convention) or ``"all"``.
      require_in_target: refuse a fully labelled target lacking one of ``classes``.

    Returns:
      A :class:`Task`.

    Raises:
      ValueError: different feature sizes, an unlabelled source row, fewer than
        two shared classes, a class of ``classes`` missing from a table, or no
        target row to adapt to.
    """
    ds, dt = source.features.shape[1:], target.features.shape[1:]
    if ds != dt:
        ds, dt = (s[0] if len(s) == 1 else s for s in (ds, dt))
        raise ValueError(
            f"the source table has {ds} features per row and the target table has {dt}; "
            "both must come from the same feature set (e.g. both IS09, 384 features) — "
            "extract the target again with the source's --set"
        )
    s_labels, t_labels = _labels(source), _labels(target)
    unlabelled = np.flatnonzero(s_labels == "")
    if unlabelled.size:
        raise ValueError(
            f"the source table has {unlabelled.size} unlabelled rows (first: "
            f"{unlabelled[:5].tolist()}); the source must be labelled — drop those rows or swap "
            "source and target"
        )
    mapping, s_keep, s_y, t_keep, t_y = map_classes(
        s_labels,
        t_labels,
        classes=None if not classes else classes,
        require_in_target=require_in_target,
    )
    if target_rows == "all":
        t_rows = np.ones(len(t_labels), dtype=bool)
        yt = np.full(len(t_labels), -1, dtype=np.int32)
        yt[t_keep] = t_y
    else:
        t_rows, yt = t_keep, t_y
        if not t_rows.any():
            raise ValueError(
                f"task {name}: the target has no labelled row of the shared classes, so "
                "data.target_rows=shared leaves nothing to adapt to; use data.target_rows=all "
                "for an unlabelled target"
            )
    ids_s, ids_t = _ids(source), _ids(target)
    xs, xt, transform = _normalize(
        source.features[s_keep],
        target.features[t_rows],
        (None if ids_s is None else ids_s[s_keep], None if ids_t is None else ids_t[t_rows]),
        normalize,
    )
    files = getattr(target, "files", None)
    if files is None:
        files = np.array([f"row{i}" for i in range(len(t_labels))])
    groups = getattr(source, "groups", None)
    adapt = AdaptData(
        name=name,
        classes=mapping.classes,
        source_features=np.asarray(xs, dtype=np.float32),
        source_labels=s_y.astype(np.int32),
        target_features=np.asarray(xt, dtype=np.float32),
        groups=None if groups is None else np.asarray(groups),
    )
    return Task(
        adapt=adapt,
        mapping=mapping,
        target_files=np.asarray(files)[t_rows].astype(str),
        target_labels=yt.astype(np.int32),
        transform=transform,
    )
