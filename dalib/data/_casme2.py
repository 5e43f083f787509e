"""CASME II micro-expression database reader."""

from __future__ import annotations

import os
import re

from dalib.data._coded import read_coded
from dalib.data._me import MECorpus

__all__ = ["CASME2_DROPPED", "CASME2_LABELS", "CASME2_LAYOUT", "read_casme2"]

CASME2_LAYOUT = (
    "<root>/CASME2_RAW_selected/subXX/EPxx_xx/imgN.jpg (raw release) or "
    "<root>/Cropped/subXX/EPxx_xx/reg_imgN.jpg (cropped release), with the coding spreadsheet "
    "<root>/CASME2-coding-*.xlsx (columns Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, "
    "Action Units, Estimated Emotion)"
)

#: CASME II estimated emotion -> CDMER class.
CASME2_LABELS: dict[str, str] = {
    "happiness": "positive",
    "disgust": "negative",
    "sadness": "negative",
    "fear": "negative",
    "surprise": "surprise",
}
#: Emotions outside the 3-class map: dropped and counted.
CASME2_DROPPED: tuple[str, ...] = ("repression", "others")

_SUBJECT = re.compile(r"^(?:sub)?0*(\d{1,3})$", re.IGNORECASE)


def _subject(value: object) -> str | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    match = _SUBJECT.match(str(value).strip()) if value is not None else None
    return f"sub{int(match.group(1)):02d}" if match else None


def read_casme2(
    root: str | os.PathLike[str],
    *,
    release: str = "auto",
    sheet: str | os.PathLike[str] | None = None,
    missing: str = "error",
) -> MECorpus:
    """Reads CASME II from its original layout, in the 3-class CDMER map.

    Frames ``<root>/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (the raw
    release: whole 640x480 camera frames at 200 fps, only the frames from onset
    to offset) or ``<root>/Cropped/sub01/EP02_01f/reg_img46.jpg`` (the cropped
    and registered faces); the frame number is the last number in a file name.
    Labels, onset, apex and offset frame numbers come from the coding
    spreadsheet ``CASME2-coding-*.xlsx`` in ``<root>``, one row per clip
    (Subject 1-26, Filename ``EP02_01f``). Classes: happiness -> positive;
    disgust, sadness, fear -> negative; surprise -> surprise; repression and
    others are dropped and counted in ``corpus.dropped``. Apex cells that are
    not numbers (the spreadsheet holds a ``/``) give ``apex=None`` and a line in
    ``corpus.report["index_warnings"]``.

    Args:
      root: the folder that holds ``CASME2_RAW_selected/`` (and/or ``Cropped/``)
        and the spreadsheet.
      release: ``"raw"``, ``"cropped"``, or ``"auto"`` (raw when present).
      sheet: path of the coding spreadsheet, when it is not in ``root`` or there are several.
      missing: ``"error"`` (default) raises when a coded clip's folder is
        absent; ``"skip"`` leaves such clips out and lists them in
        ``corpus.report["missing_clips"]``.

    Returns:
      A :class:`~dalib.data.MECorpus` of :class:`~dalib.data.Clip` (subjects ``sub01`` ...,
      clip ids ``sub01/EP02_01f``), 200 fps.

    Raises:
      CorpusLayoutError: a missing frames folder or spreadsheet, a spreadsheet
        without the columns, and (all listed in one message) rows without
        Subject/Filename, unknown emotion labels, rows whose clip folder is
        missing, clip folders without frames or with misnamed frames.

    Examples:
      >>> read_casme2("/nonexistent")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      dalib.data._records.CorpusLayoutError: CASME II root /nonexistent does not exist; ...
    """
    return read_coded(
        name="casme2",
        display="CASME II",
        root=root,
        layout=CASME2_LAYOUT,
        frame_dirs={"raw": "CASME2_RAW_selected", "cropped": "Cropped"},
        sheet_patterns=("CASME2-coding-*.xlsx", "CASME2*coding*.xlsx"),
        sheet=sheet,
        subject_id=_subject,
        label_map=CASME2_LABELS,
        dropped_labels=CASME2_DROPPED,
        fps=200.0,
        release=release,
        missing=missing,
    )
