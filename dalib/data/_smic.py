"""SMIC (Spontaneous Micro-expression Corpus) reader: the HS, VIS and NIR subsets."""

from __future__ import annotations

import os
import re

from dalib.data._me import (
    Clip,
    MECorpus,
    check_release,
    list_frames,
    make_me_corpus,
    raise_problems,
)
from dalib.data._records import CorpusLayoutError, as_root, visible_entries

__all__ = [
    "SMIC_FPS",
    "SMIC_LABELS",
    "SMIC_LAYOUT",
    "read_smic",
    "read_smic_hs",
    "read_smic_nir",
    "read_smic_vis",
]

SMIC_LAYOUT = (
    "<root>/SMIC_all_raw/{HS,VIS,NIR}/sN/micro/{positive,negative,surprise}/<clip>/*.bmp "
    "(raw release) or <root>/SMIC_all_cropped/{HS,VIS,NIR}/sN/micro/.../<clip>/reg_*.bmp "
    "(cropped); <root> may also be the SMIC_all_raw or SMIC_all_cropped folder itself"
)

#: SMIC emotion folder -> CDMER class (SMIC is coded in these three classes).
SMIC_LABELS: dict[str, str] = {
    "positive": "positive",
    "negative": "negative",
    "surprise": "surprise",
}
#: Frame rate per subset.
SMIC_FPS: dict[str, float] = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}

_RELEASE_DIRS = {"raw": "SMIC_all_raw", "cropped": "SMIC_all_cropped"}
_SUBJECT = re.compile(r"^s\d{1,2}$", re.IGNORECASE)


def _release_dir(root, subset: str, release: str):
    candidates = [r for r in ("raw", "cropped") if release in ("auto", r)]
    for r in candidates:
        if (root / _RELEASE_DIRS[r] / subset).is_dir():
            return r, root / _RELEASE_DIRS[r] / subset
    if (root / subset).is_dir():  # root is SMIC_all_raw or SMIC_all_cropped itself
        r = "cropped" if "crop" in root.name.lower() else "raw"
        if release in ("auto", r):
            return r, root / subset
    wanted = " or ".join(f"{_RELEASE_DIRS[r]}/{subset}/" for r in candidates)
    raise CorpusLayoutError(
        f"SMIC root {root} holds no {wanted} folder (nor {subset}/ itself); expected {SMIC_LAYOUT}."
    )


def read_smic(
    root: str | os.PathLike[str], subset: str = "HS", *, release: str = "auto"
) -> MECorpus:
    """Reads one SMIC subset (``HS``, ``VIS`` or ``NIR``) from its original layout.

    Frames ``<root>/SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image012345.bmp``
    (raw release: HS 100 fps, VIS and NIR 25 fps) or the same tree under
    ``SMIC_all_cropped/`` (faces cropped by the distributors, ``reg_*.bmp``).
    The class is the emotion folder (positive, negative, surprise: SMIC is
    coded in the CDMER classes already); ``non_micro/`` folders are skipped.
    SMIC codes no apex; onset and offset are the first and last frames of the
    clip folder.

    Args:
      root: the folder that holds ``SMIC_all_raw/`` (or ``SMIC_all_cropped/``),
        or one of those two folders.
      subset: ``"HS"``, ``"VIS"`` or ``"NIR"`` (any case).
      release: ``"raw"``, ``"cropped"`` or ``"auto"`` (raw when present).

    Returns:
      A :class:`~dalib.data.MECorpus` named ``smic-hs``/``smic-vis``/``smic-nir``
      (subjects ``s1`` ..., clip ids ``s1/s1_ne_01``).

    Raises:
      CorpusLayoutError: a missing subset folder, and (all listed in one
        message) subject folders not named ``sN`` or without ``micro/``, unknown
        emotion folders, clip folders without frames or with misnamed frames.

    Examples:
      >>> read_smic("/nonexistent", "IR")
      Traceback (most recent call last):
      ...
      ValueError: `subset` must be 'HS', 'VIS' or 'NIR', got 'IR'.
    """
    key = str(subset).upper()
    if key not in SMIC_FPS:
        raise ValueError(f"`subset` must be 'HS', 'VIS' or 'NIR', got {subset!r}.")
    release = check_release(release)
    name = f"smic-{key.lower()}"
    root = as_root(root, "SMIC", SMIC_LAYOUT)
    release, base = _release_dir(root, key, release)
    clips, bad_subjects, unknown, frame_problems = [], [], [], []
    report: dict[str, list[str]] = {"ignored_files": [], "index_warnings": []}
    for subject_dir in visible_entries(base):
        rel = subject_dir.relative_to(root).as_posix()
        if not subject_dir.is_dir():
            report["ignored_files"].append(rel)
            continue
        if not _SUBJECT.match(subject_dir.name):
            bad_subjects.append(f"{rel}/ (subject folders are named sN)")
            continue
        micro = subject_dir / "micro"
        if not micro.is_dir():
            bad_subjects.append(f"{rel}/ (no micro/ folder)")
            continue
        subject = subject_dir.name.lower()
        for emotion_dir in visible_entries(micro):
            emotion = emotion_dir.name.lower()
            if not emotion_dir.is_dir() or emotion not in SMIC_LABELS:
                unknown.append(emotion_dir.relative_to(root).as_posix())
                continue
            for clip_dir in visible_entries(emotion_dir):
                if not clip_dir.is_dir():
                    report["ignored_files"].append(clip_dir.relative_to(root).as_posix())
                    continue
                frames, numbers = list_frames(
                    clip_dir, root, frame_problems, report["ignored_files"]
                )
                if not frames:
                    continue
                clips.append(
                    Clip(
                        path=clip_dir,
                        label=SMIC_LABELS[emotion],
                        subject=subject,
                        file=f"{subject}/{clip_dir.name}",
                        original_label=emotion,
                        frames=frames,
                        frame_numbers=numbers,
                        onset=numbers[0],
                        apex=None,
                        offset=numbers[-1],
                    )
                )
    raise_problems(
        f"SMIC-{key}",
        root,
        SMIC_LAYOUT,
        {
            "malformed subject folders": bad_subjects,
            "unknown emotion folders (known: negative, positive, surprise)": unknown,
            "malformed clip folders": frame_problems,
        },
    )
    return make_me_corpus(
        name,
        root,
        clips,
        SMIC_LABELS,
        {},
        layout=SMIC_LAYOUT,
        fps=SMIC_FPS[key],
        release=release,
        report=report,
    )


def read_smic_hs(root: str | os.PathLike[str], *, release: str = "auto") -> MECorpus:
    """SMIC-HS (high-speed camera, 100 fps): :func:`read_smic` with ``subset="HS"``."""
    return read_smic(root, "HS", release=release)


def read_smic_vis(root: str | os.PathLike[str], *, release: str = "auto") -> MECorpus:
    """SMIC-VIS (visual camera, 25 fps): :func:`read_smic` with ``subset="VIS"``."""
    return read_smic(root, "VIS", release=release)


def read_smic_nir(root: str | os.PathLike[str], *, release: str = "auto") -> MECorpus:
    """SMIC-NIR (near-infrared camera, 25 fps): :func:`read_smic` with ``subset="NIR"``."""
    return read_smic(root, "NIR", release=release)
