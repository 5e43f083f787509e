"""Tiny micro-expression trees in the real CASME II, SMIC and SAMM layouts.

Frames are small generated grayscale images (a gradient, a moving blob and
noise) written with OpenCV; spreadsheets are written with openpyxl, laid out
as the distributed files are (SAMM: title rows above the header). Each
builder returns what it wrote as ``(clip id, CDMER class, subject)``, spelled
out here by hand, independently of the readers under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAME_SHAPE = (40, 48)  # height, width


def frame(seed: int, k: int, shape=FRAME_SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed * 1000 + k)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    img = 60 + 80 * xx / w + 40 * np.exp(-((yy - h / 2) ** 2 + (xx - 10 - 2 * k) ** 2) / 30)
    img = img + rng.normal(0, 6, shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_clip(folder: Path, names: list[str], seed: int, shape=FRAME_SHAPE) -> list[Path]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, name in enumerate(names):
        path = folder / name
        assert cv2.imwrite(str(path), frame(seed, k, shape))
        paths.append(path)
    return paths


def write_xlsx(path: Path, rows: list[list], title_rows: list[list] | None = None) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in title_rows or []:
        sheet.append(row)
    for row in rows:
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


# --- CASME II -------------------------------------------------------------------

CASME2_HEADER = [
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
# subject, filename, onset, apex, offset, AUs, emotion, folder written?
CASME2_ROWS = [
    (1, "EP02_01f", 6, 9, 13, "12", "happiness", True),
    (1, "EP03_02", 20, 22, 27, "4+9", "disgust", True),
    (2, "EP01_11f", 40, 43, 47, "1+2", "surprise", True),
    (2, "EP05_02", 10, 12, 17, "14", "repression", True),
    (3, "EP07_01", 30, 31, 37, "12", "others", False),
    (3, "EP09_04", 50, "/", 57, "4", "fear", True),
    (4, "EP10_01", 100, 103, 107, "R15", "sadness", True),
]
CASME2_WRITTEN = [
    ("sub01/EP02_01f", "positive", "sub01"),
    ("sub01/EP03_02", "negative", "sub01"),
    ("sub02/EP01_11f", "surprise", "sub02"),
    ("sub03/EP09_04", "negative", "sub03"),
    ("sub04/EP10_01", "negative", "sub04"),
]


def make_casme2(root: Path, *, release: str = "raw", sheet_name="CASME2-coding-20140508.xlsx"):
    frames_dir = root / ("CASME2_RAW_selected" if release == "raw" else "Cropped")
    prefix = "img" if release == "raw" else "reg_img"
    for i, (subject, filename, onset, _, offset, _, _, present) in enumerate(CASME2_ROWS):
        if present:
            names = [f"{prefix}{n}.jpg" for n in range(onset, offset + 1)]
            write_clip(frames_dir / f"sub{subject:02d}" / filename, names, seed=i)
    rows = [[*r[:2], None, *r[2:5], None, *r[5:7]] for r in CASME2_ROWS]
    write_xlsx(root / sheet_name, [CASME2_HEADER, *rows])
    return CASME2_WRITTEN


# --- SAMM -----------------------------------------------------------------------

SAMM_TITLE = [
    ["SAMM micro-movement FACS codes"],
    ["Spontaneous Actions and Micro-Movements"],
    [],
    ["Coder notes: see the paper"],
] + [[f"note line {k}"] for k in range(9)]  # 13 rows above the header
SAMM_HEADER = [
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
]
SAMM_ROWS = [
    (6, "006_1_2", 5562, 5566, 5570, "R12", "Happiness"),
    (6, "006_1_5", 1200, 1203, 1207, "4", "Anger"),
    (7, "007_3_1", 300, 302, 306, "14", "Contempt"),
    (7, "007_6_4", 710, 712, 716, "1+2", "Surprise"),
    (9, "009_2_1", 95, 98, 104, "12+15", "Other"),
]
SAMM_WRITTEN = [
    ("006/006_1_2", "positive", "006"),
    ("006/006_1_5", "negative", "006"),
    ("007/007_3_1", "negative", "007"),
    ("007/007_6_4", "surprise", "007"),
]


def make_samm(root: Path, *, release: str = "raw", sheet_inside: bool = False):
    frames_dir = root / ("SAMM" if release == "raw" else "SAMM_CROP")
    for i, (subject, filename, onset, _, offset, _, _) in enumerate(SAMM_ROWS):
        names = [f"{subject:03d}_{n:05d}.jpg" for n in range(onset, offset + 1)]
        write_clip(frames_dir / f"{subject:03d}" / filename, names, seed=100 + i)
    rows = [
        [s, f, 1, on, ap, off, off - on + 1, "Micro - 1/2", au, "", em]
        for s, f, on, ap, off, au, em in SAMM_ROWS
    ]
    sheet_dir = frames_dir if sheet_inside else root
    write_xlsx(sheet_dir / "SAMM_Micro_FACS_Codes_v2.xlsx", [SAMM_HEADER, *rows], SAMM_TITLE)
    return SAMM_WRITTEN


# --- SMIC -----------------------------------------------------------------------

SMIC_CLIPS = {
    "HS": [
        ("s1", "negative", "s1_ne_01", 8),
        ("s1", "positive", "s1_po_02", 6),
        ("s2", "surprise", "s2_sur_01", 7),
        ("s3", "negative", "s3_ne_03", 9),
    ],
    "VIS": [("s1", "positive", "s1_po_01", 6), ("s4", "surprise", "s4_sur_02", 6)],
    "NIR": [("s1", "positive", "s1_po_01", 6), ("s4", "negative", "s4_ne_05", 7)],
}


def make_smic(root: Path, subsets=("HS", "VIS", "NIR"), *, release: str = "raw"):
    base = root / ("SMIC_all_raw" if release == "raw" else "SMIC_all_cropped")
    written = {}
    for subset in subsets:
        written[subset] = []
        for i, (subject, emotion, clip, n) in enumerate(SMIC_CLIPS[subset]):
            start = 1000 * (i + 1) + 95  # frame numbers cross 99 -> 100 ... 999 -> 1000
            prefix = "image" if release == "raw" else "reg_image"
            names = [f"{prefix}{k:06d}.bmp" for k in range(start, start + n)]
            folder = base / subset / subject / "micro" / emotion / clip
            write_clip(folder, names, seed=200 + i)
            written[subset].append((f"{subject}/{clip}", emotion, subject))
        # non-micro clips are not part of the micro-expression set
        write_clip(base / subset / "s1" / "non_micro" / "s1_no_01", ["image000001.bmp"], 9)
    return written
