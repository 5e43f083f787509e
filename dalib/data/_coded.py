"""Micro-expression corpora coded in a spreadsheet (CASME II, SAMM): the shared reader."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from dalib.data._me import (
    Clip,
    MECorpus,
    check_missing,
    check_release,
    find_one,
    index_warnings,
    list_frames,
    make_me_corpus,
    parse_index,
    raise_problems,
    read_sheet,
)
from dalib.data._records import CorpusLayoutError, as_root, visible_entries

_COLUMNS = {
    "subject": ("Subject",),
    "filename": ("Filename", "File name"),
    "onset": ("OnsetFrame", "Onset Frame", "Onset"),
    "apex": ("ApexFrame", "Apex Frame", "Apex"),
    "offset": ("OffsetFrame", "Offset Frame", "Offset"),
    "emotion": ("Estimated Emotion", "Emotion"),
}
_AU_COLUMNS = ("Action Units", "ActionUnits", "AU")


def read_coded(
    *,
    name: str,
    display: str,
    root: str | os.PathLike[str],
    layout: str,
    frame_dirs: Mapping[str, str],
    sheet_patterns: Sequence[str],
    sheet: str | os.PathLike[str] | None,
    subject_id: Callable[[object], str | None],
    label_map: Mapping[str, str],
    dropped_labels: Sequence[str],
    fps: float,
    release: str,
    missing: str,
) -> MECorpus:
    """Reads ``<root>/<frame dir>/<subject>/<clip>/*`` coded by one spreadsheet."""
    release = check_release(release)
    missing = check_missing(missing)
    root = as_root(root, display, layout)
    if release == "auto":
        found = [r for r, d in frame_dirs.items() if (root / d).is_dir()]
        if not found:
            names = " or ".join(f"{d}/" for d in frame_dirs.values())
            raise CorpusLayoutError(
                f"{display} root {root} holds no {names} folder; expected {layout}."
            )
        release = found[0]
    frames_dir = root / frame_dirs[release]
    if not frames_dir.is_dir():
        raise CorpusLayoutError(
            f"{display} {release} frames folder {frames_dir} does not exist; expected {layout}."
        )
    if sheet is None:
        sheets = find_one(root, sheet_patterns) or find_one(frames_dir, sheet_patterns)
        if not sheets:
            raise CorpusLayoutError(
                f"{display}: no coding spreadsheet ({' or '.join(sheet_patterns)}) in {root}; "
                f"expected {layout}. Pass its path as `sheet=` if it is elsewhere."
            )
        if len(sheets) > 1:
            raise CorpusLayoutError(
                f"{display}: several coding spreadsheets in {sheets[0].parent}: "
                f"{', '.join(p.name for p in sheets)}; pass the one to use as `sheet=`."
            )
        sheet_path = sheets[0]
    else:
        sheet_path = Path(sheet).expanduser()
        if not sheet_path.is_file():
            raise CorpusLayoutError(f"{display}: coding spreadsheet {sheet_path} does not exist.")
    columns = dict(_COLUMNS)
    rows = read_sheet(sheet_path, columns, display, layout, optional={"aus": _AU_COLUMNS})

    clips, dropped = [], collections.Counter()
    bad_rows, unknown, absent, frame_problems = [], [], [], []
    report: dict[str, list[str]] = {
        "missing_clips": [],
        "uncoded_folders": [],
        "index_warnings": [],
        "ignored_files": [],
    }
    named: set[str] = set()
    for excel_row, row in rows:
        subject = subject_id(row["subject"])
        filename = str(row["filename"] or "").strip()
        if subject is None or not filename:
            bad_rows.append(
                f"row {excel_row}: Subject={row['subject']!r}, Filename={row['filename']!r}"
            )
            continue
        rel = f"{subject}/{filename}"
        named.add(rel)
        emotion = str(row["emotion"] or "").strip()
        key = emotion.lower()
        if key in dropped_labels:
            dropped[key] += 1
            continue
        if key not in label_map:
            unknown.append(f"row {excel_row} ({rel}): {emotion!r}")
            continue
        folder = frames_dir / subject / filename
        if not folder.is_dir():
            where = f"row {excel_row}: {rel} ({emotion}) -> {folder} not found"
            (report["missing_clips"] if missing == "skip" else absent).append(where)
            continue
        frames, numbers = list_frames(folder, root, frame_problems, report["ignored_files"])
        if not frames:
            continue
        clip = Clip(
            path=folder,
            label=label_map[key],
            subject=subject,
            file=rel,
            original_label=key,
            frames=frames,
            frame_numbers=numbers,
            onset=parse_index(row["onset"]),
            apex=parse_index(row["apex"]),
            offset=parse_index(row["offset"]),
            action_units="" if row["aus"] is None else str(row["aus"]).strip(),
        )
        report["index_warnings"].extend(index_warnings(clip))
        clips.append(clip)
    for subject_dir in visible_entries(frames_dir):
        if subject_dir.is_dir():
            for clip_dir in visible_entries(subject_dir):
                rel = f"{subject_dir.name}/{clip_dir.name}"
                if clip_dir.is_dir() and rel not in named:
                    report["uncoded_folders"].append(rel)
    known = ", ".join(sorted(set(label_map) | set(dropped_labels)))
    raise_problems(
        display,
        root,
        layout,
        {
            f"spreadsheet rows without a usable Subject/Filename ({sheet_path.name})": bad_rows,
            f"unknown emotion labels (known: {known})": unknown,
            "spreadsheet rows whose clip folder is missing (pass missing='skip' to leave "
            "them out)": absent,
            "malformed clip folders": frame_problems,
        },
    )
    return make_me_corpus(
        name,
        root,
        clips,
        {k: v for k, v in label_map.items()},
        dict(dropped),
        layout=layout,
        fps=fps,
        release=release,
        report=report,
    )

