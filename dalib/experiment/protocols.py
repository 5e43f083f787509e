"""Protocols as values: domains, tasks, class sets, feature set, metrics, table sources.

A :class:`Protocol` says everything a sweep needs to know about a published
benchmark; :func:`dalib.experiment.run_protocol` runs any of them with the same
code. :data:`SER` is the cross-corpus speech emotion recognition protocol of
the Zong/Zheng group: B = EmoDB, E = eNTERFACE'05, C = CASIA, and six tasks on
the classes each pair shares (FIELD.md):

=======  ==============================================
pair     shared classes
=======  ==============================================
B <-> E  angry, disgust, fear, happy, sad
B <-> C  angry, fear, happy, neutral, sad
E <-> C  angry, fear, happy, sad, surprise
=======  ==============================================

A protocol's tables come from one of three sources (:class:`CorporaSpec`): the
built-in synthetic corpora, a ``root`` folder with the real corpora in their
original layouts (features extracted once and cached), or precomputed
``tables`` per domain code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "COMPOSITE",
    "MER",
    "MER_DATABASES",
    "PROTOCOLS",
    "SER",
    "SER_CORPORA",
    "SER_TASKS",
    "ClassMapping",
    "CorporaSpec",
    "Protocol",
    "ProtocolTask",
    "get_protocol",
    "load_protocol_tables",
    "map_classes",
    "register_protocol",
    "ser_tasks",
]


@dataclasses.dataclass(frozen=True)
class ProtocolTask:
    """One source -> target task of a protocol.

    Attributes:
      source: short domain code (``"B"``).
      target: short domain code (``"E"``).
      classes: the class names of the task, in label-index order.
    """

    source: str
    target: str
    classes: tuple[str, ...]

    @property
    def name(self) -> str:
        """``"B->E"``-style name used in tables."""
        return f"{self.source}->{self.target}"


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A benchmark protocol as a value.

    Attributes:
      name: the command-line name (``"ser"``).
      title: one line for help texts and table notes.
      domains: domain code -> corpus name (the reader's name, and the folder
        name under ``--root``).
      tasks: the tasks, in table column order.
      feature_set: the default feature set.
      metrics: the metrics tabulated, headline first (``("uar", "war")``).
      synthetic: ``synthetic(code, feature_set, root, seed) -> FeatureTable`` for
        the built-in stand-ins, or ``None``.
      convention: the target-row convention, printed under every table.
      optional_tasks: further tasks run only when named (``--tasks``).
      root_dirs: domain code -> folder under ``--root`` (default: the corpus name).
      kind: ``"pairs"`` (source -> target tasks) or ``"loso"`` (the ``pooled``
        domains pooled, one task per held-out subject; see
        :mod:`dalib.experiment.composite`).
      pooled: the domains a ``"loso"`` protocol pools.
      classes: the class set of a ``"loso"`` protocol.
    """

    name: str
    title: str
    domains: Mapping[str, str]
    tasks: tuple[ProtocolTask, ...]
    feature_set: str
    metrics: tuple[str, ...]
    synthetic: Callable[..., Any] | None
    convention: str = (
        "Closed set: the adaptation sees, and scoring uses, the target rows of the classes "
        "the task's two corpora share."
    )
    optional_tasks: tuple[ProtocolTask, ...] = ()
    root_dirs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    kind: str = "pairs"
    pooled: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        """The domains a full run needs."""
        if self.kind == "loso":
            return self.pooled
        return tuple(dict.fromkeys(c for t in self.tasks for c in (t.source, t.target)))

    def select_tasks(self, names: Sequence[str] | None = None) -> tuple[ProtocolTask, ...]:
        """All tasks, or those named like ``["B->E", "C->B"]``."""
        if self.kind == "loso":
            if names:
                raise ValueError(
                    f"protocol {self.name!r} holds out each subject in turn; it has no tasks to "
                    "choose (--tasks)"
                )
            return ()
        if not names:
            return self.tasks
        by_name = {t.name: t for t in (*self.tasks, *self.optional_tasks)}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"unknown {self.name} task(s) {unknown}; choose from {list(by_name)}")
        return tuple(by_name[n] for n in names)


@dataclasses.dataclass(frozen=True)
class CorporaSpec:
    """Where a protocol's tables come from (the ``corpora`` section of a config).

    Attributes:
      kind: ``"synthetic"``, ``"root"`` or ``"tables"``.
      root: the folder of the real corpora (``kind="root"``).
      tables: domain code -> table path (``kind="tables"``).
      feature_set: the feature set.
      synth_root: where the synthetic corpora are cached (``""``: the default).
      synth_seed: the synthetic build seed.
    """

    kind: str
    root: str
    tables: Mapping[str, str]
    feature_set: str
    synth_root: str
    synth_seed: int

    @classmethod
    def from_config(cls, corpora: Mapping[str, Any], protocol: Protocol) -> CorporaSpec:
        """Validates a config's ``corpora`` section against a protocol (before any work)."""
        from dalib import _checks

        seed = _checks.check_positive_int(
            corpora.get("synth_seed", 0), "corpora.synth_seed", allow_zero=True
        )
        tables: dict[str, str] = {}
        if corpora.get("tables"):
            for item in str(corpora["tables"]).split(","):
                if not item.strip():
                    continue
                if "=" not in item:
                    raise ValueError(
                        f"--tables expects CODE=PATH items separated by commas "
                        f"({','.join(f'{c}=...' for c in protocol.domains)}), got {item!r}"
                    )
                code, path = (x.strip() for x in item.split("=", 1))
                code = code.upper()
                if code not in protocol.domains:
                    raise ValueError(
                        f"--tables names {code!r}, which is not a domain of protocol "
                        f"{protocol.name!r} (its domains: "
                        f"{', '.join(f'{c} = {n}' for c, n in protocol.domains.items())})"
                    )
                if code in tables:
                    raise ValueError(f"--tables names domain {code} twice")
                tables[code] = path
            kind = "tables"
        elif corpora.get("root"):
            kind = "root"
        else:
            kind = "synthetic"
        return cls(
            kind=kind,
            root=str(corpora.get("root") or ""),
            tables=tables,
            feature_set=str(corpora.get("feature_set") or protocol.feature_set),
            synth_root=str(corpora.get("synth_root") or ""),
            synth_seed=seed,
        )

    @property
    def label(self) -> str:
        if self.kind == "synthetic":
            return f"synthetic, build seed {self.synth_seed}"
        return "user"


def load_protocol_tables(
    protocol: Protocol,
    corpora: CorporaSpec,
    codes: Sequence[str],
    cache: str | Path,
    *,
    input: str = "features",
) -> dict[str, Any]:
    """The feature tables of the domains ``codes``, keyed by code.

    Args:
      protocol: the protocol.
      corpora: where the tables come from.
      codes: the domain codes needed (those of the selected tasks).
      cache: a folder for features extracted from ``--root`` corpora.
      input: ``data.input``: ``"features"``, or ``"logmel"`` for log-mel segment
        tables ``[N, segments, frames, mels]`` of speech corpora
        (:func:`dalib.experiment.inputs.load_logmel_tables`).

    Raises:
      FileNotFoundError: a missing root folder or table file.
      ValueError: a needed domain without a table.
    """
    from dalib.data import corpus_to_table, load_table

    if input == "logmel":
        from dalib.experiment.inputs import load_logmel_tables

        return load_logmel_tables(protocol, corpora, list(codes))

    if corpora.kind == "tables":
        missing = [c for c in codes if c not in corpora.tables]
        if missing:
            raise ValueError(
                f"--tables gives no table for domain(s) {missing} "
                f"({', '.join(protocol.domains[c] for c in missing)}), which the tasks need"
            )
        return {code: load_table(corpora.tables[code]) for code in codes}
    if corpora.kind == "root":
        root = Path(corpora.root)
        if not root.is_dir():
            raise FileNotFoundError(
                f"--root {root} is not a folder; it must hold the corpora in their original "
                f"layouts as subfolders {sorted(protocol.domains.values())}"
            )
        tables = {}
        for code in codes:
            corpus = protocol.domains[code]
            path = Path(cache) / f"{corpus}_{corpora.feature_set}.npz"
            if not path.is_file():
                folder = root / protocol.root_dirs.get(code, corpus)
                corpus_to_table(corpus, folder, corpora.feature_set, path)
            tables[code] = load_table(path)
        return tables
    if protocol.synthetic is None:
        raise ValueError(f"protocol {protocol.name!r} has no synthetic corpora; pass --root")
    return {
        code: protocol.synthetic(
            code, corpora.feature_set, corpora.synth_root or None, corpora.synth_seed
        )
        for code in codes
    }


def _synthetic_speech(code: str, feature_set: str, root: str | None, seed: int):
    """A synthetic SER corpus table (built on first use; build ``k > 0`` in ``root/seed_k``)."""
    from dalib.synth import default_root, load_manifest, load_synthetic_table, resolve_corpus

    base = Path(root) if root else default_root()
    if seed != 0:
        base = base / f"seed_{seed}"
    corpus_dir = base / resolve_corpus(code).name
    try:
        found = load_manifest(corpus_dir)["seed"]
    except FileNotFoundError:
        found = None  # not built yet: load_synthetic_table builds it
    if found is not None and found != seed:
        raise ValueError(
            f"{corpus_dir} holds a synthetic build with seed {found}, but corpora.synth_seed is "
            f"{seed}; point --synth-root at another folder or delete that one"
        )
    # Renders the corpus again when the build is not current (older generator, subset).
    return load_synthetic_table(code, feature_set, root=base, build=True, seed=seed)


SER_CORPORA = {"B": "emodb", "E": "enterface", "C": "casia"}

_PAIR_CLASSES = {
    frozenset("BE"): ("angry", "disgust", "fear", "happy", "sad"),
    frozenset("BC"): ("angry", "fear", "happy", "neutral", "sad"),
    frozenset("EC"): ("angry", "fear", "happy", "sad", "surprise"),
}

SER_TASKS: tuple[ProtocolTask, ...] = tuple(
    ProtocolTask(s, t, _PAIR_CLASSES[frozenset((s, t))])
    for s, t in (("B", "E"), ("E", "B"), ("B", "C"), ("C", "B"), ("E", "C"), ("C", "E"))
)

#: Cross-corpus speech emotion recognition (EmoDB, eNTERFACE'05, CASIA), UAR headline.
SER = Protocol(
    name="ser",
    title="cross-corpus speech emotion recognition: B = EmoDB, E = eNTERFACE'05, C = CASIA",
    domains=SER_CORPORA,
    tasks=SER_TASKS,
    feature_set="is09",
    metrics=("uar", "war"),
    synthetic=_synthetic_speech,
)

PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol, *, replace: bool = False) -> Protocol:
    """Makes a protocol available by name to ``dalib protocol`` and :func:`get_protocol`."""
    if protocol.name in PROTOCOLS and not replace:
        raise ValueError(f"a protocol named {protocol.name!r} is registered already")
    PROTOCOLS[protocol.name] = protocol
    return protocol


def get_protocol(name: str) -> Protocol:
    """The protocol registered as ``name``; ``ValueError`` listing the others."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; available: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


register_protocol(SER)


def _synthetic_me(code: str, feature_set: str, root: str | None, seed: int):
    """A synthetic micro-expression database table (built on first use)."""
    from dalib.synth import default_root, load_synthetic_me_table

    base = Path(root) if root else default_root()
    if seed != 0:
        base = base / f"seed_{seed}"
    return load_synthetic_me_table(code, feature_set, root=base, build=True, seed=seed)


MER_DATABASES = {"C": "casme2", "H": "smic-hs", "V": "smic-vis", "N": "smic-nir", "S": "samm"}
_ME_CLASSES = ("negative", "positive", "surprise")


def _me_task(s: str, t: str) -> ProtocolTask:
    return ProtocolTask(s, t, _ME_CLASSES)


#: Cross-database micro-expression recognition (the CDMER benchmark of Zong et al.):
#: CASME II and SMIC-HS/VIS/NIR, 12 tasks, three classes, LBP-TOP, UF1 headline.
#: The SAMM tasks (C<->S, H<->S) run when named with ``--tasks``.
MER = Protocol(
    name="mer",
    title="cross-database micro-expression recognition (CDMER): C = CASME II, H/V/N = "
    "SMIC-HS/VIS/NIR, S = SAMM",
    domains=MER_DATABASES,
    tasks=tuple(
        _me_task(s, t)
        for s, t in (
            ("C", "H"),
            ("H", "C"),
            ("C", "V"),
            ("V", "C"),
            ("C", "N"),
            ("N", "C"),
            ("H", "V"),
            ("V", "H"),
            ("H", "N"),
            ("N", "H"),
            ("V", "N"),
            ("N", "V"),
        )
    ),
    feature_set="lbptop",
    metrics=("uf1", "uar"),
    synthetic=_synthetic_me,
    convention="Three classes (positive, negative, surprise; CASME II and SAMM mapped as in "
    "the CDMER benchmark, other classes dropped); every target clip of those classes is "
    "adapted to and scored.",
    optional_tasks=tuple(
        _me_task(s, t) for s, t in (("C", "S"), ("S", "C"), ("H", "S"), ("S", "H"))
    ),
    root_dirs={"C": "casme2", "H": "smic", "V": "smic", "N": "smic", "S": "samm"},
)
register_protocol(MER)

#: Composite-database evaluation (MEGC 2019): CASME II + SMIC-HS + SAMM pooled,
#: leave-one-subject-out, UF1 and UAR over all samples and per database.
COMPOSITE = Protocol(
    name="composite",
    title="composite-database micro-expression recognition (MEGC 2019): CASME II + SMIC-HS + "
    "SAMM pooled, leave one subject out",
    domains={c: MER_DATABASES[c] for c in ("C", "H", "S")},
    tasks=(),
    feature_set="lbptop",
    metrics=("uf1", "uar"),
    synthetic=_synthetic_me,
    convention="Leave one subject out over the pooled databases: each subject's clips are "
    "the target once; the predictions of all folds are pooled and scored over all samples "
    "(overall) and per database.",
    root_dirs={"C": "casme2", "H": "smic", "S": "samm"},
    kind="loso",
    pooled=("C", "H", "S"),
    classes=_ME_CLASSES,
)
register_protocol(COMPOSITE)


def ser_tasks(names: Sequence[str] | None = None) -> tuple[ProtocolTask, ...]:
    """The six SER tasks, or those named like ``["B->E", "C->B"]``."""
    return SER.select_tasks(names)


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
    require_in_target: bool = True,
) -> tuple[ClassMapping, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maps two tables' class names onto the classes they share.

    Args:
      source_labels: ``[N_s]`` class names of the source table.
      target_labels: ``[N_t]`` class names of the target table (used only to know
        which class names exist there, and for scoring); ``""`` marks an
        unlabelled row, which is never kept.
      require_in_target: with ``classes``, refuse a fully labelled target that
        lacks one of them (off for held-out subjects, which rarely show every class).
      classes: restrict to these classes (a protocol's class set); default: the
        intersection of both tables' class names, or the source's class names
        when some target rows are unlabelled.

    Returns:
      ``(mapping, source_keep, source_y, target_keep, target_y)``: boolean masks of
      kept rows and integer labels (indices into ``mapping.classes``) for them.

    Raises:
      ValueError: when fewer than two classes are shared, or a requested class is
        missing from a table.
    """
    s = np.asarray(source_labels).astype(str)
    t = np.asarray(target_labels).astype(str)
    labelled = t != ""
    s_names, t_names = set(s.tolist()), set(t[labelled].tolist())
    if classes is None:
        # A fully labelled target: the classes both share (the closed-set protocols).
        # Unlabelled target rows: the model predicts the source's classes.
        shared = sorted(s_names & t_names) if labelled.all() else sorted(s_names)
    else:
        shared = list(classes)
        check_target = labelled.all() and require_in_target
        sides = [("source", s_names)] + ([("target", t_names)] if check_target else [])
        for side, names in sides:
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
