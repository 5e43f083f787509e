"""Micro-expression clips and corpora: the shared parts of the CASME II, SMIC and SAMM readers."""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dalib.data._records import Corpus, CorpusLayoutError, is_junk, visible_entries

__all__ = ["ME_LABELS", "Clip", "FrameReadError", "MECorpus"]

#: The three CDMER classes every micro-expression reader maps to (sorted).
ME_LABELS: tuple[str, ...] = ("negative", "positive", "surprise")

#: Suffixes of frame images (other files in a clip folder are listed in the report).
FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".bmp", ".png", ".tif", ".tiff"})

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


class FrameReadError(ValueError):
    """A frame image could not be decoded, or a clip's frames disagree in size; names the file."""


@dataclasses.dataclass(frozen=True)
class Clip:
    """One micro-expression clip: a folder of frames plus its coding.

    Attributes:
      path: the clip folder.
      label: CDMER class (one of :data:`ME_LABELS`).
      subject: subject id, unique within the corpus (``sub01``, ``s3``, ``006``).
      file: clip id, unique within the corpus (``sub01/EP02_01f``, ``s1/s1_ne_01``, ``006_1_2``).
      original_label: the emotion as the corpus writes it (``happiness``, ``Anger``).
      frames: frame image paths in frame-number order.
      frame_numbers: the number in each frame's file name (``img46.jpg`` -> 46).
      onset: onset frame number from the coding, or ``None`` when not coded.
      apex: apex frame number, or ``None`` (SMIC codes none; some spreadsheet rows hold ``/``).
      offset: offset frame number, or ``None``.
      action_units: the coded action units (``"4+7"``), ``""`` when the corpus has none.
    """

    path: Path
    label: str
    subject: str
    file: str
    original_label: str
    frames: tuple[Path, ...]
    frame_numbers: tuple[int, ...]
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None
    action_units: str = ""

    @property
    def speaker(self) -> str:
        """The subject (so code written for speech corpora can group by it)."""
        return self.subject

    def onset_index(self) -> int:
        """Position in :attr:`frames` of the onset frame (0 when it is not coded or not found)."""
        if self.onset is not None and self.onset in self.frame_numbers:
            return self.frame_numbers.index(self.onset)
        return 0


@dataclasses.dataclass(frozen=True)
class MECorpus(Corpus):
    """A micro-expression corpus: :class:`~dalib.data.Corpus` whose records are :class:`Clip`.

    It has the attributes of :class:`~dalib.data.Corpus`, and:

    Attributes:
      fps: the recording frame rate.
      release: ``"raw"`` (whole camera frames; faces are detected) or ``"cropped"``
        (the distributors' face crops; used as given).
      report: what the reader left out or found odd, as lists of strings:
        ``missing_clips`` (coded rows whose folder is absent, only with
        ``missing="skip"``), ``uncoded_folders`` (clip folders no spreadsheet
        row names), ``index_warnings`` (onset/apex/offset not among the frame
        numbers or not coded), ``ignored_files`` (non-image files in clip
        folders). Dropped labels are counted in ``dropped``.
    """

    fps: float = 0.0
    release: str = "raw"
    report: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def clips(self) -> tuple[Clip, ...]:
        """The clips (same as ``records``)."""
        return self.records  # type: ignore[return-value]

    @property
    def subjects(self) -> list[str]:
        """Subject of every clip."""
        return [c.subject for c in self.records]  # type: ignore[attr-defined]

    def summary(self) -> str:
        """A few lines: clips per class and subjects, what was dropped and left out."""
        counts = ", ".join(f"{k} {v}" for k, v in self.counts("label").items())
        lines = [
            f"{self.name} ({self.release} release, {self.fps:g} fps): {len(self)} clips of "
            f"{len(set(self.subjects))} subjects ({counts})"
        ]
        if self.dropped:
            dropped = ", ".join(f"{k} {v}" for k, v in self.dropped.items())
            lines.append(f"  dropped (outside the 3-class map): {dropped}")
        for key, values in self.report.items():
            if values:
                shown = "; ".join(str(v) for v in list(values)[:5])
                more = f" ... ({len(values)} in all)" if len(values) > 5 else ""
                lines.append(f"  {key.replace('_', ' ')}: {shown}{more}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def frame_number(name: str) -> int | None:
    """The last run of digits in a file stem (``reg_img46`` -> 46, ``006_05562`` -> 5562)."""
    match = _LAST_NUMBER.search(Path(name).stem)
    return int(match.group(1)) if match else None


def list_frames(
    folder: Path, root: Path, problems: list[str], ignored: list[str]
) -> tuple[tuple[Path, ...], tuple[int, ...]]:
    """Frames of a clip folder sorted by frame number; bad names go to ``problems``."""
    frames: dict[int, Path] = {}
    for path in visible_entries(folder):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            problems.append(f"{rel}/ (a folder inside a clip folder)")
            continue
        if path.suffix.lower() not in FRAME_SUFFIXES:
            ignored.append(rel)
            continue
        number = frame_number(path.name)
        if number is None:
            problems.append(f"{rel} (no frame number in the name)")
        elif number in frames:
            problems.append(f"{rel} (frame number {number} also in {frames[number].name})")
        else:
            frames[number] = path
    if not frames:
        problems.append(f"{folder.relative_to(root).as_posix()}/ (no frame images)")
    numbers = tuple(sorted(frames))
    return tuple(frames[n] for n in numbers), numbers


def parse_index(value: Any) -> int | None:
    """A coded frame number: ints, integral floats, digit strings; ``None`` for ``/``, blanks."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def index_warnings(clip: Clip) -> list[str]:
    """Onset/apex/offset that are not coded or fall outside the clip's frame numbers."""
    out = []
    for name in ("onset", "apex", "offset"):
        value = getattr(clip, name)
        if value is None:
            out.append(f"{clip.file}: {name} not coded")
        elif value not in clip.frame_numbers:
            lo, hi = clip.frame_numbers[0], clip.frame_numbers[-1]
            out.append(f"{clip.file}: {name} {value} not among frames {lo}..{hi}")
    return out


def norm_header(text: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text or "").lower())


def read_sheet(
    path: Path,
    columns: Mapping[str, Sequence[str]],
    corpus: str,
    layout: str,
    optional: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Rows of the first worksheet as ``(excel row number, {field: value})``.

    The header row is the first of the first 40 rows that holds every required
    column (title rows above it, as in SAMM's spreadsheet, are skipped).
    ``columns`` maps a field to the accepted header spellings (compared
    ignoring case, spaces and punctuation); ``optional`` fields are ``None``
    when their column is absent.
    """
    try:
        import openpyxl
    except ImportError as err:  # pragma: no cover - part of the `me` extra
        raise ImportError(
            f"reading {path.name} needs openpyxl; install it with `pip install dalib-jax[me]`."
        ) from err
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # zipfile, KeyError, InvalidFileException ...
        raise CorpusLayoutError(
            f"{corpus}: cannot read the spreadsheet {path}: {err}; expected {layout}."
        ) from err
    try:
        rows = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    wanted = {field: {norm_header(a) for a in aliases} for field, aliases in columns.items()}
    extra = {f: {norm_header(a) for a in aliases} for f, aliases in (optional or {}).items()}
    for r, row in enumerate(rows[:40]):
        heads = [norm_header(v) for v in row]
        where: dict[str, int | None] = {}
        for field, names in (wanted | extra).items():
            hits = [j for j, h in enumerate(heads) if h in names]
            where[field] = hits[0] if hits else None
        if all(where[f] is not None for f in wanted):
            out = []
            for k, body in enumerate(rows[r + 1 :], start=r + 2):
                if all(v is None or str(v).strip() == "" for v in body):
                    continue
                out.append(
                    (
                        k,
                        {
                            f: body[j] if j is not None and j < len(body) else None
                            for f, j in where.items()
                        },
                    )
                )
            return out
    seen = [[v for v in row if v is not None][:8] for row in rows[:3]]
    needed = ", ".join(aliases[0] for aliases in columns.values())
    raise CorpusLayoutError(
        f"{corpus}: no header row with the columns {needed} in the first 40 rows of {path} "
        f"(first rows hold {seen}); expected {layout}."
    )


def find_one(folder: Path, patterns: Sequence[str]) -> list[Path]:
    """Files in ``folder`` matching any glob pattern (case-insensitive), sorted."""
    regexes = [re.compile(_glob_to_regex(p), re.IGNORECASE) for p in patterns]
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not is_junk(p.name) and any(r.fullmatch(p.name) for r in regexes)
    )


def _glob_to_regex(pattern: str) -> str:
    return "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)


def raise_problems(corpus: str, root: Path, layout: str, sections: Mapping[str, list[str]]) -> None:
    """One :class:`CorpusLayoutError` listing every problem found, by kind."""
    sections = {k: v for k, v in sections.items() if v}
    if not sections:
        return
    parts = []
    for title, items in sections.items():
        shown = "\n    ".join(items[:20])
        more = f"\n    ... and {len(items) - 20} more" if len(items) > 20 else ""
        parts.append(f"  {title} ({len(items)}):\n    {shown}{more}")
    raise CorpusLayoutError(
        f"{corpus} under {root} does not match the expected layout {layout}:\n" + "\n".join(parts)
    )


def make_me_corpus(
    name: str,
    root: Path,
    clips: Iterable[Clip],
    label_map: Mapping[str, str],
    dropped: Mapping[str, int],
    *,
    layout: str,
    fps: float,
    release: str,
    report: Mapping[str, list[str]],
) -> MECorpus:
    """Sorts clips by id, checks ids are unique and that there is at least one clip."""
    clips = sorted(clips, key=lambda c: c.file)
    if not clips:
        raise CorpusLayoutError(
            f"{name}: no clip of the 3-class map found under {root}; expected {layout}."
        )
    seen = collections.Counter(c.file for c in clips)
    duplicates = sorted(f for f, c in seen.items() if c > 1)
    if duplicates:
        raise CorpusLayoutError(
            f"{name}: clip ids occur more than once under {root}: {', '.join(duplicates[:20])}."
        )
    return MECorpus(
        name=name,
        root=root,
        records=tuple(clips),
        label_names=ME_LABELS,
        label_map=dict(label_map),
        dropped=dict(sorted(dropped.items())),
        fps=float(fps),
        release=release,
        report={k: list(v) for k, v in report.items()},
    )


def check_release(release: str) -> str:
    value = str(release).lower()
    if value not in ("auto", "raw", "cropped"):
        raise ValueError(f"`release` must be 'auto', 'raw' or 'cropped', got {release!r}.")
    return value


def check_missing(missing: str) -> str:
    if missing not in ("error", "skip"):
        raise ValueError(f"`missing` must be 'error' or 'skip', got {missing!r}.")
    return missing
