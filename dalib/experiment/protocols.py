"""Cross-corpus protocols: tasks, class sets, and class mapping between tables.

The cross-corpus SER protocol of the Zong/Zheng group uses three corpora,
B = EmoDB, E = eNTERFACE'05, C = CASIA, and six tasks on the classes each pair
shares (FIELD.md):

=======  ==============================================
pair     shared classes
=======  ==============================================
B <-> E  angry, disgust, fear, happy, sad
B <-> C  angry, fear, happy, neutral, sad
E <-> C  angry, fear, happy, sad, surprise
=======  ==============================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SER_CORPORA",
    "SER_TASKS",
    "ClassMapping",
    "Task",
    "map_classes",
    "ser_tasks",
]

SER_CORPORA = {"B": "emodb", "E": "enterface", "C": "casia"}

_PAIR_CLASSES = {
    frozenset("BE"): ("angry", "disgust", "fear", "happy", "sad"),
    frozenset("BC"): ("angry", "fear", "happy", "neutral", "sad"),
    frozenset("EC"): ("angry", "fear", "happy", "sad", "surprise"),
}


@dataclasses.dataclass(frozen=True)
class Task:
    """One source -> target task of a protocol.

    Attributes:
      source: short corpus code (``"B"``).
      target: short corpus code (``"E"``).
      classes: the class names both corpora share, in label-index order.
    """

    source: str
    target: str
    classes: tuple[str, ...]

    @property
    def name(self) -> str:
        """``"B->E"``-style name used in tables."""
        return f"{self.source}->{self.target}"


SER_TASKS: tuple[Task, ...] = tuple(
    Task(s, t, _PAIR_CLASSES[frozenset((s, t))])
    for s, t in (("B", "E"), ("E", "B"), ("B", "C"), ("C", "B"), ("E", "C"), ("C", "E"))
)


def ser_tasks(names: Sequence[str] | None = None) -> tuple[Task, ...]:
    """The six SER tasks, or those named like ``["B->E", "C->B"]``.

    Raises:
      ValueError: for a name that is not one of the six tasks.
    """
    if names is None:
        return SER_TASKS
    by_name = {t.name: t for t in SER_TASKS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown SER task(s) {unknown}; choose from {sorted(by_name)}")
    return tuple(by_name[n] for n in names)


@dataclasses.dataclass(frozen=True)
class ClassMapping:
    """How two labelled tables were mapped onto their shared classes.

    Attributes:
      classes: shared class names in index order (sorted).
      dropped_source: source class names not in the target, with sample counts.
      dropped_target: target class names not in the source, with sample counts.
    """

    classes: tuple[str, ...]
    dropped_source: dict[str, int]
    dropped_target: dict[str, int]

    def describe(self) -> str:
        """A one-paragraph human-readable report of the mapping."""
        parts = [f"shared classes ({len(self.classes)}): {', '.join(self.classes)}"]
        for side, dropped in (("source", self.dropped_source), ("target", self.dropped_target)):
            if dropped:
                items = ", ".join(f"{k} ({v} samples)" for k, v in sorted(dropped.items()))
                parts.append(f"dropped from {side}: {items}")
        return "; ".join(parts)


def map_classes(
    source_labels: Sequence[str] | np.ndarray,
    target_labels: Sequence[str] | np.ndarray,
    *,
    classes: Sequence[str] | None = None,
) -> tuple[ClassMapping, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maps two tables' class names onto the classes they share.

    Args:
      source_labels: ``[N_s]`` class names of the source table.
      target_labels: ``[N_t]`` class names of the target table (used only to know
        which class names exist there, and for scoring).
      classes: restrict to these classes (a protocol's class set); default: the
        intersection of both tables' class names.

    Returns:
      ``(mapping, source_keep, source_y, target_keep, target_y)``: boolean masks of
      kept rows and integer labels (indices into ``mapping.classes``) for them.

    Raises:
      ValueError: when fewer than two classes are shared, or a requested class is
        missing from a table.
    """
    s = np.asarray(source_labels).astype(str)
    t = np.asarray(target_labels).astype(str)
    s_names, t_names = set(s.tolist()), set(t.tolist())
    if classes is None:
        shared = sorted(s_names & t_names)
    else:
        shared = list(classes)
        for side, names in (("source", s_names), ("target", t_names)):
            missing = [c for c in shared if c not in names]
            if missing:
                raise ValueError(
                    f"class(es) {missing} of the protocol are absent from the {side} table, "
                    f"which has {sorted(names)}; check the corpus or the label names"
                )
    if len(shared) < 2:
        raise ValueError(
            f"the source and target tables share {len(shared)} class(es) "
            f"(source has {sorted(s_names)}, target has {sorted(t_names)}); "
            "cross-corpus training needs at least two shared class names — rename "
            "labels so that equal emotions have equal names"
        )
    index = {c: i for i, c in enumerate(shared)}
    s_keep = np.isin(s, shared)
    t_keep = np.isin(t, shared)
    dropped_s = {c: int(np.sum(s == c)) for c in sorted(s_names - set(shared))}
    dropped_t = {c: int(np.sum(t == c)) for c in sorted(t_names - set(shared))}
    s_y = np.array([index[c] for c in s[s_keep]], dtype=np.int32)
    t_y = np.array([index[c] for c in t[t_keep]], dtype=np.int32)
    mapping = ClassMapping(tuple(shared), dropped_s, dropped_t)
    return mapping, s_keep, s_y, t_keep, t_y
