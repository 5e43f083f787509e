"""Records, corpora and the errors every corpus reader raises."""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from dalib.audio import AudioReadError

__all__ = [
    "CANONICAL_LABELS",
    "AudioReadError",
    "Corpus",
    "CorpusLayoutError",
    "Record",
]

#: Emotion names shared by every corpus reader, so that the classes two corpora
#: share are found by intersecting their label names.
CANONICAL_LABELS: tuple[str, ...] = (
    "angry",
    "boredom",
    "disgust",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprise",
)

# Files that operating systems leave in folders; skipped everywhere (names that
# start with "." are skipped too, e.g. macOS "._x.wav" resource forks).
_JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})


class CorpusLayoutError(ValueError):
    """A corpus folder is missing or does not have the layout its reader expects.

    The message names the folder, the layout that was expected and, for file
    names that do not parse, lists them.
    """


@dataclasses.dataclass(frozen=True)
class Record:
    """One utterance of a corpus.

    Attributes:
      path: the audio (``.wav``) or audio-visual (``.avi``) file.
      label: canonical class name (one of :data:`CANONICAL_LABELS`).
      speaker: speaker (subject) identifier, unique within the corpus.
      file: utterance identifier, unique within the corpus (e.g. ``03a01Fa``).
      original_label: the label as the corpus writes it (``F``, ``anger``, ``exc``).
    """

    path: Path
    label: str
    speaker: str
    file: str
    original_label: str


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The parsed contents of a corpus folder.

    Attributes:
      name: reader name (``"emodb"``, ``"enterface"``, ``"casia"``, ``"iemocap"``).
      root: the folder that was read.
      records: one :class:`Record` per kept utterance, sorted by ``file``.
      label_names: the classes of this corpus (fixed per corpus, independent of
        which of them occur on disk), in :data:`CANONICAL_LABELS` order.
      label_map: original label -> canonical label, for every label that is kept.
      dropped: original label -> number of utterances dropped because the label
        is outside the corpus's class convention (IEMOCAP's ``fru``, ``xxx``, ...).
    """

    name: str
    root: Path
    records: tuple[Record, ...]
    label_names: tuple[str, ...]
    label_map: Mapping[str, str]
    dropped: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[str]:
        """Canonical class name of every record."""
        return [r.label for r in self.records]

    @property
    def speakers(self) -> list[str]:
        """Speaker of every record."""
        return [r.speaker for r in self.records]

    @property
    def files(self) -> list[str]:
        """Utterance identifier of every record."""
        return [r.file for r in self.records]

    @property
    def paths(self) -> list[Path]:
        """Audio path of every record."""
        return [r.path for r in self.records]

    def label_index(self, label: str) -> int:
        """Position of ``label`` in :attr:`label_names` (the integer class id)."""
        return self.label_names.index(label)

    def counts(self, by: str = "label") -> dict[str, int]:
        """Number of records per ``"label"`` or per ``"speaker"``, keys sorted."""
        if by not in ("label", "speaker"):
            raise ValueError(f"`by` must be 'label' or 'speaker', got {by!r}.")
        counter = collections.Counter(getattr(r, by) for r in self.records)
        return dict(sorted(counter.items()))


def is_junk(name: str) -> bool:
    return name.startswith(".") or name.lower() in _JUNK_FILES


def visible_entries(folder: Path) -> list[Path]:
    """Entries of ``folder`` (sorted), hidden files and OS junk left out."""
    return sorted(p for p in folder.iterdir() if not is_junk(p.name))


def require_dir(path: Path, what: str, layout: str) -> None:
    """Raises :class:`CorpusLayoutError` unless ``path`` is a directory."""
    if not path.is_dir():
        state = "is not a directory" if path.exists() else "does not exist"
        raise CorpusLayoutError(f"{what} {path} {state}; expected {layout}.")


def as_root(root: str | os.PathLike[str], corpus: str, layout: str) -> Path:
    """Checks the corpus root folder and returns it as an absolute ``Path``."""
    path = Path(root).expanduser()
    require_dir(path, f"{corpus} root", layout)
    return path.resolve()


def raise_unparsed(corpus: str, names: Sequence[str], pattern: str, layout: str) -> None:
    """Raises :class:`CorpusLayoutError` listing file names that did not parse."""
    if not names:
        return
    shown = list(names[:20])
    more = f"\n  ... and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    listing = "\n  ".join(shown)
    raise CorpusLayoutError(
        f"{corpus}: {len(names)} file(s) do not match the expected naming {pattern} "
        f"(layout {layout}); rename or remove them:\n  {listing}{more}"
    )


def make_corpus(
    name: str,
    root: Path,
    records: Iterable[Record],
    label_names: Sequence[str],
    label_map: Mapping[str, str],
    dropped: Mapping[str, int] | None = None,
    *,
    layout: str,
) -> Corpus:
    """Sorts records, checks file ids are unique and the corpus is not empty."""
    records = sorted(records, key=lambda r: r.file)
    if not records:
        raise CorpusLayoutError(f"{name}: no utterances found under {root}; expected {layout}.")
    seen = collections.Counter(r.file for r in records)
    duplicates = sorted(f for f, c in seen.items() if c > 1)
    if duplicates:
        raise CorpusLayoutError(
            f"{name}: utterance ids occur more than once under {root}: "
            f"{', '.join(duplicates[:20])}; each file must appear once."
        )
    return Corpus(
        name=name,
        root=root,
        records=tuple(records),
        label_names=tuple(label_names),
        label_map=dict(label_map),
        dropped=dict(sorted((dropped or {}).items())),
    )
