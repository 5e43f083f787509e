"""How the synthetic micro-expression databases are written: folders, frame files, spreadsheets.

The layouts are the real releases' (FIELD.md, "Original layouts"), so the real
readers of :mod:`dalib.data` read the synthetic databases end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dalib.synth._me import MEDatabaseSpec

# ------------------------------------------------------------------ layouts


def clip_folder(spec: MEDatabaseSpec, clip: dict) -> str:
    """The clip's folder relative to the database root, as in the real release."""
    if spec.layout == "casme2":
        return f"CASME2_RAW_selected/{clip['subject']}/{clip['name']}"
    if spec.layout == "samm":
        return f"SAMM/{clip['subject']}/{clip['name']}"
    sub = spec.name.split("-")[1].upper()
    return f"SMIC_all_raw/{sub}/{clip['subject']}/micro/{clip['emotion']}/{clip['name']}"


def frame_name(spec: MEDatabaseSpec, clip: dict, number: int) -> str:
    """File name of frame ``number`` (an absolute frame number)."""
    if spec.layout == "casme2":
        return f"img{number}.jpg"
    if spec.layout == "samm":
        return f"{clip['subject']}_{number:05d}.jpg"
    return f"image{number:06d}.bmp"


def encode_frame(spec: MEDatabaseSpec, frame: np.ndarray) -> bytes:
    """One frame as file bytes (JPEG at a fixed quality, baseline, or 8-bit BMP)."""
    import cv2

    if spec.frame_format == "jpg":
        params = [
            cv2.IMWRITE_JPEG_QUALITY,
            spec.jpeg_quality,
            cv2.IMWRITE_JPEG_OPTIMIZE,
            0,
            cv2.IMWRITE_JPEG_PROGRESSIVE,
            0,
        ]
        ok, buf = cv2.imencode(".jpg", frame, params)
    else:
        ok, buf = cv2.imencode(".bmp", frame)
    if not ok:  # pragma: no cover - OpenCV failure
        raise RuntimeError(f"OpenCV could not encode a {spec.frame_format} frame")
    return buf.tobytes()


_FIXED_TIME = (2014, 5, 8, 0, 0, 0)


def write_workbook(path: Path, rows: list[list], *, title: str) -> None:
    """An ``.xlsx`` with fixed document times and fixed zip entry times (byte-reproducible)."""
    import datetime
    import io
    import zipfile

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    fixed = datetime.datetime(*_FIXED_TIME)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "dalib.synth"
    wb.properties.lastModifiedBy = "dalib.synth"
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl writes the zip entries with the current time: rewrite them with a fixed one
    # (and the modification time that openpyxl stamps into docProps/core.xml on save).
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _fix_core_times(data)
            fixed_info = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME)
            fixed_info.compress_type = zipfile.ZIP_DEFLATED
            fixed_info.external_attr = 0o600 << 16
            dst.writestr(fixed_info, data)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(out.getvalue())
    tmp.replace(path)


def _fix_core_times(xml: bytes) -> bytes:
    import re

    stamp = b"%04d-%02d-%02dT%02d:%02d:%02dZ" % _FIXED_TIME
    pattern = rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)"
    return re.sub(pattern, rb"\g<1>" + stamp + rb"\2", xml)


def spreadsheet(spec: MEDatabaseSpec, clips: list[dict]) -> tuple[str, list[list], str] | None:
    """(file name, rows, sheet title) of the coding spreadsheet, or ``None`` (SMIC has none)."""
    if spec.layout == "casme2":
        header = [
            "Subject",
            "Filename",
            None,
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            None,
            "Action Units",
            "Estimated Emotion",
        ]
        rows = [header]
        for c in clips:
            rows.append(
                [
                    int(c["subject"][3:]),
                    c["name"],
                    c["name"].rstrip("f"),
                    c["onset_frame"],
                    c["apex_frame"],
                    c["offset_frame"],
                    None,
                    c["au_code"],
                    c["emotion"],
                ]
            )
        return "CASME2-coding-20140508.xlsx", rows, "Sheet1"
    if spec.layout == "samm":
        rows = [
            ["SAMM Micro-Movement FACS Codes (synthetic stand-in written by dalib.synth)"],
            ["Version 2"],
            [],
            ["Columns: Subject, Filename, Inducement Code, Onset/Apex/Offset Frame, Duration,"],
            ["Type, Action Units, Notes, Estimated Emotion."],
            ["Frames are numbered as in the recording; 200 fps."],
            [],
            [],
            [],
            [],
            [],
            [],
            [],
            [
                "Subject",
                "Filename",
                "Inducement Code",
                "Onset Frame",
                "Apex Frame",
                "Offset Frame",
                "Duration",
                "Type",
                "Action Units",
                "Notes",
                "Estimated Emotion",
            ],
        ]
        for c in clips:
            video = int(c["name"].split("_")[1])
            rows.append(
                [
                    int(c["subject"]),
                    c["name"],
                    video,
                    c["onset_frame"],
                    c["apex_frame"],
                    c["offset_frame"],
                    c["num_frames"],
                    "Micro - 1/2",
                    c["au_code"],
                    None,
                    c["emotion"],
                ]
            )
        return "SAMM_Micro_FACS_Codes_v2.xlsx", rows, "FACS_Movement_Only"
    return None
