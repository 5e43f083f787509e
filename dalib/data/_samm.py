"""SAMM (Spontaneous Actions and Micro-Movements) database reader."""

from __future__ import annotations

import os
import re

from dalib.data._coded import read_coded
from dalib.data._me import MECorpus

__all__ = ["SAMM_DROPPED", "SAMM_LABELS", "SAMM_LAYOUT", "read_samm"]

SAMM_LAYOUT = (
    "<root>/SAMM/006/006_1_2/006_NNNNN.jpg (raw release) or <root>/SAMM_CROP/006/006_1_2/*.jpg "
    "(cropped), with <root>/SAMM_Micro_FACS_Codes_v2.xlsx (title rows, then a header row with "
    "Subject, Filename, Onset Frame, Apex Frame, Offset Frame, Action Units, Estimated Emotion)"
)

#: SAMM estimated emotion (lower case) -> CDMER class.
SAMM_LABELS: dict[str, str] = {
    "happiness": "positive",
    "anger": "negative",
    "contempt": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sadness": "negative",
    "surprise": "surprise",
}
#: Emotions outside the 3-class map: dropped and counted.
SAMM_DROPPED: tuple[str, ...] = ("other", "others")

_SUBJECT = re.compile(r"^0*(\d{1,3})$")


def _subject(value: object) -> str | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    match = _SUBJECT.match(str(value).strip()) if value is not None else None
    return f"{int(match.group(1)):03d}" if match else None


def read_samm(
    root: str | os.PathLike[str],
    *,
    release: str = "auto",
    sheet: str | os.PathLike[str] | None = None,
    missing: str = "error",
) -> MECorpus:
    """Reads SAMM from its original layout, in the 3-class CDMER map.

    Frames ``<root>/SAMM/006/006_1_2/006_05562.jpg`` (raw, 2040x1088 grayscale
    at 200 fps; the frame number is the last number of the name) or the same
    tree under ``<root>/SAMM_CROP/`` (cropped faces). Labels and onset, apex,
    offset frame numbers come from ``SAMM_Micro_FACS_Codes_v2.xlsx`` (in
    ``<root>`` or in the frames folder); its first rows are a title block, and
    the header row (Subject, Filename, Onset Frame, Apex Frame, Offset Frame,
    ..., Estimated Emotion) is found by its column names. Subjects are written
    ``006`` (numbers in the sheet are zero-padded to three digits). Classes:
    happiness -> positive; anger, contempt, disgust, fear, sadness -> negative;
    surprise -> surprise; other is dropped and counted in ``corpus.dropped``.

    Args:
      root: the folder that holds ``SAMM/`` (and/or ``SAMM_CROP/``) and the spreadsheet.
      release: ``"raw"``, ``"cropped"``, or ``"auto"`` (raw when present).
      sheet: path of the spreadsheet, when it is elsewhere.
      missing: ``"error"`` or ``"skip"`` for coded clips whose folder is absent
        (see :func:`read_casme2`).

    Returns:
      A :class:`~dalib.data.MECorpus` (clip ids ``006/006_1_2``), 200 fps.

    Raises:
      CorpusLayoutError: as :func:`read_casme2`.
    """
    return read_coded(
        name="samm",
        display="SAMM",
        root=root,
        layout=SAMM_LAYOUT,
        frame_dirs={"raw": "SAMM", "cropped": "SAMM_CROP"},
        sheet_patterns=("SAMM_Micro_FACS_Codes*.xlsx",),
        sheet=sheet,
        subject_id=_subject,
        label_map=SAMM_LABELS,
        dropped_labels=SAMM_DROPPED,
        fps=200.0,
        release=release,
        missing=missing,
    )
