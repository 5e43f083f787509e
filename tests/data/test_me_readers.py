"""Micro-expression readers (CASME II, SMIC, SAMM) on fixture trees in the real layouts."""

import collections
import shutil

import pytest

from dalib import data

pytest.importorskip("cv2")
pytest.importorskip("openpyxl")

try:
    from . import me_fixtures as mf
except ImportError:
    import me_fixtures as mf


def _check(corpus, written):
    assert len(corpus) == len(written)
    assert {(c.file, c.label, c.subject) for c in corpus.clips} == set(written)
    assert corpus.counts("label") == dict(
        sorted(collections.Counter(label for _, label, _ in written).items())
    )
    assert corpus.label_names == ("negative", "positive", "surprise")
    for clip in corpus.clips:
        assert clip.path.is_dir()
        assert list(clip.frame_numbers) == sorted(clip.frame_numbers)
        assert all(p.is_file() and p.parent == clip.path for p in clip.frames)
        assert len(set(clip.frame_numbers)) == len(clip.frames)


def _copy(tree, tmp_path):
    root, written = tree
    dest = tmp_path / "copy"
    shutil.copytree(root, dest)
    return dest, written


# --- CASME II -------------------------------------------------------------------


def test_casme2_parses_fixture(casme2_tree):
    root, written = casme2_tree
    corpus = data.read_corpus("CASME II", root)
    assert isinstance(corpus, data.MECorpus)
    _check(corpus, written)
    assert corpus.name == "casme2" and corpus.release == "raw" and corpus.fps == 200
    assert corpus.dropped == {"others": 1, "repression": 1}
    clip = {c.file: c for c in corpus.clips}["sub01/EP02_01f"]
    # frames 6..13: numeric order, img9 before img10
    assert clip.frame_numbers == tuple(range(6, 14))
    assert [p.name for p in clip.frames[3:5]] == ["img9.jpg", "img10.jpg"]
    assert (clip.onset, clip.apex, clip.offset) == (6, 9, 13)
    assert clip.action_units == "12" and clip.original_label == "happiness"
    fear = {c.file: c for c in corpus.clips}["sub03/EP09_04"]
    assert fear.apex is None  # the "/" cell
    assert any("sub03/EP09_04: apex not coded" in w for w in corpus.report["index_warnings"])
    assert corpus.subjects == [c.subject for c in corpus.clips]
    assert "dropped" in corpus.summary() and "others 1" in corpus.summary()


def test_casme2_cropped_release_and_choice(casme2_tree, tmp_path):
    root, written = _copy(casme2_tree, tmp_path)
    mf.make_casme2(root, release="cropped")  # both releases side by side
    assert data.read_casme2(root).release == "raw"
    corpus = data.read_casme2(root, release="cropped")
    assert corpus.release == "cropped"
    _check(corpus, written)
    assert all(p.name.startswith("reg_img") for c in corpus.clips for p in c.frames)
    shutil.rmtree(root / "CASME2_RAW_selected")
    assert data.read_casme2(root).release == "cropped"
    with pytest.raises(data.CorpusLayoutError, match="CASME2_RAW_selected"):
        data.read_casme2(root, release="raw")


def test_casme2_missing_root_and_folders_name_layout(tmp_path):
    with pytest.raises(data.CorpusLayoutError, match=r"does not exist; expected <root>/CASME2"):
        data.read_casme2(tmp_path / "nope")
    (tmp_path / "frames").mkdir()
    with pytest.raises(data.CorpusLayoutError, match=r"CASME2_RAW_selected/ or Cropped/"):
        data.read_casme2(tmp_path)


def test_casme2_missing_spreadsheet(casme2_tree, tmp_path):
    root, _ = _copy(casme2_tree, tmp_path)
    (root / "CASME2-coding-20140508.xlsx").unlink()
    with pytest.raises(data.CorpusLayoutError, match=r"no coding spreadsheet.*CASME2-coding"):
        data.read_casme2(root)


def test_casme2_two_spreadsheets_or_explicit_sheet(casme2_tree, tmp_path):
    root, written = _copy(casme2_tree, tmp_path)
    shutil.copy(root / "CASME2-coding-20140508.xlsx", root / "CASME2-coding-updated.xlsx")
    with pytest.raises(data.CorpusLayoutError, match="several coding spreadsheets"):
        data.read_casme2(root)
    _check(data.read_casme2(root, sheet=root / "CASME2-coding-updated.xlsx"), written)


def test_casme2_spreadsheet_without_columns(casme2_tree, tmp_path):
    root, _ = _copy(casme2_tree, tmp_path)
    mf.write_xlsx(root / "CASME2-coding-20140508.xlsx", [["Subject", "Clip", "Emotion"], [1]])
    with pytest.raises(data.CorpusLayoutError, match=r"no header row with the columns Subject"):
        data.read_casme2(root)


def test_casme2_unreadable_spreadsheet(casme2_tree, tmp_path):
    root, _ = _copy(casme2_tree, tmp_path)
    (root / "CASME2-coding-20140508.xlsx").write_bytes(b"not a zip file")
    with pytest.raises(data.CorpusLayoutError, match="cannot read the spreadsheet"):
        data.read_casme2(root)


def _rewrite_casme2_sheet(root, extra_rows):
    rows = [
        [s, f, None, on, ap, off, None, au, em] for s, f, on, ap, off, au, em, _ in mf.CASME2_ROWS
    ]
    mf.write_xlsx(root / "CASME2-coding-20140508.xlsx", [mf.CASME2_HEADER, *rows, *extra_rows])


def test_casme2_unknown_labels_and_missing_folders_listed(casme2_tree, tmp_path):
    root, _ = _copy(casme2_tree, tmp_path)
    _rewrite_casme2_sheet(
        root,
        [
            [5, "EP01_01", None, 1, 2, 3, None, "4", "anger"],
            [5, "EP02_02", None, 1, 2, 3, None, "4", "Contempt"],
            [6, "EP03_03", None, 1, 2, 3, None, "12", "happiness"],  # no folder
            [None, "EP04_04", None, 1, 2, 3, None, "12", "happiness"],  # no subject
        ],
    )
    with pytest.raises(data.CorpusLayoutError) as err:
        data.read_casme2(root)
    message = str(err.value)
    assert "unknown emotion labels" in message
    assert "'anger'" in message and "'Contempt'" in message
    assert "row 9 (sub05/EP01_01)" in message
    assert "clip folder is missing" in message and "sub06/EP03_03" in message
    assert "without a usable Subject/Filename" in message and "row 12" in message


def test_casme2_missing_folders_skipped_on_request(casme2_tree, tmp_path):
    root, written = _copy(casme2_tree, tmp_path)
    shutil.rmtree(root / "CASME2_RAW_selected" / "sub04" / "EP10_01")
    with pytest.raises(data.CorpusLayoutError, match=r"row 8: sub04/EP10_01 \(sadness\)"):
        data.read_casme2(root)
    corpus = data.read_casme2(root, missing="skip")
    _check(corpus, [w for w in written if w[0] != "sub04/EP10_01"])
    assert corpus.report["missing_clips"] == [
        f"row 8: sub04/EP10_01 (sadness) -> {root / 'CASME2_RAW_selected/sub04/EP10_01'} not found"
    ]
    with pytest.raises(ValueError, match="`missing` must be"):
        data.read_casme2(root, missing="ignore")


def test_casme2_malformed_clip_folders_listed(casme2_tree, tmp_path):
    root, _ = _copy(casme2_tree, tmp_path)
    frames = root / "CASME2_RAW_selected"
    (frames / "sub01" / "EP02_01f" / "imgX.jpg").write_bytes(b"")
    shutil.copy(frames / "sub01/EP03_02/img20.jpg", frames / "sub01/EP03_02/img020.jpg")
    for p in (frames / "sub02" / "EP01_11f").iterdir():
        p.unlink()
    (frames / "sub03" / "EP09_04" / "notes.txt").write_text("x")
    (frames / "sub05" / "EP99_99").mkdir(parents=True)  # not coded: reported only
    with pytest.raises(data.CorpusLayoutError) as err:
        data.read_casme2(root)
    message = str(err.value)
    assert "sub01/EP02_01f/imgX.jpg (no frame number in the name)" in message
    assert "img20.jpg (frame number 20 also in img020.jpg)" in message
    assert "sub02/EP01_11f/ (no frame images)" in message
    assert "notes.txt" not in message


def test_casme2_report_lists_uncoded_folders_and_ignored_files(casme2_tree, tmp_path):
    root, written = _copy(casme2_tree, tmp_path)
    frames = root / "CASME2_RAW_selected"
    (frames / "sub03" / "EP09_04" / "notes.txt").write_text("x")
    mf.write_clip(frames / "sub05" / "EP99_99", ["img1.jpg"], 0)
    corpus = data.read_casme2(root)
    _check(corpus, written)
    assert "sub05/EP99_99" in corpus.report["uncoded_folders"]
    assert "sub02/EP05_02" not in corpus.report["uncoded_folders"]  # coded, dropped
    assert corpus.report["ignored_files"] == ["CASME2_RAW_selected/sub03/EP09_04/notes.txt"]


def test_bad_release_value(casme2_tree):
    with pytest.raises(ValueError, match="`release` must be"):
        data.read_casme2(casme2_tree[0], release="aligned")


# --- SAMM -----------------------------------------------------------------------


def test_samm_title_rows_and_header(samm_tree):
    root, written = samm_tree
    corpus = data.read_corpus("samm", root)
    _check(corpus, written)
    assert corpus.dropped == {"other": 1}
    clip = {c.file: c for c in corpus.clips}["006/006_1_2"]
    assert (clip.onset, clip.apex, clip.offset) == (5562, 5566, 5570)
    assert clip.frame_numbers == tuple(range(5562, 5571))
    assert clip.frames[0].name == "006_05562.jpg"
    assert clip.original_label == "happiness" and clip.action_units == "R12"
    assert corpus.report["index_warnings"] == []


def test_samm_sheet_inside_frames_folder_and_cropped(tmp_path):
    written = mf.make_samm(tmp_path / "a", sheet_inside=True)
    _check(data.read_samm(tmp_path / "a"), written)
    written = mf.make_samm(tmp_path / "b", release="cropped")
    corpus = data.read_samm(tmp_path / "b")
    assert corpus.release == "cropped"
    _check(corpus, written)


def test_samm_unknown_emotion_listed(samm_tree, tmp_path):
    root, _ = _copy(samm_tree, tmp_path)
    rows = [[s, f, 1, on, ap, off, 5, "Micro", au, "", em] for s, f, on, ap, off, au, em in
            mf.SAMM_ROWS]
    rows[1][-1] = "Boredom"
    mf.write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", [mf.SAMM_HEADER, *rows], mf.SAMM_TITLE)
    with pytest.raises(data.CorpusLayoutError, match=r"row 16 \(006/006_1_5\): 'Boredom'"):
        data.read_samm(root)


def test_samm_missing_frames_folder(tmp_path):
    mf.write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", [mf.SAMM_HEADER])
    with pytest.raises(data.CorpusLayoutError, match=r"SAMM/ or SAMM_CROP/.*expected <root>/SAMM"):
        data.read_samm(tmp_path)


# --- SMIC -----------------------------------------------------------------------


@pytest.mark.parametrize("subset", ["HS", "VIS", "NIR"])
def test_smic_subsets(smic_tree, subset):
    root, written = smic_tree
    corpus = data.read_corpus(f"smic-{subset.lower()}", root)
    _check(corpus, written[subset])
    assert corpus.name == f"smic-{subset.lower()}"
    assert corpus.fps == {"HS": 100, "VIS": 25, "NIR": 25}[subset]
    assert corpus.dropped == {}
    for clip in corpus.clips:  # non_micro/ left out; onset/offset = first/last frame
        assert "non_micro" not in str(clip.path)
        assert clip.onset == clip.frame_numbers[0] and clip.offset == clip.frame_numbers[-1]
        assert clip.apex is None


def test_smic_root_may_be_release_folder_and_cropped(smic_tree, tmp_path):
    root, written = smic_tree
    _check(data.read_smic(root / "SMIC_all_raw", "hs"), written["HS"])
    cropped = mf.make_smic(tmp_path, ("HS",), release="cropped")
    corpus = data.read_smic(tmp_path, "HS")
    assert corpus.release == "cropped"
    _check(corpus, cropped["HS"])
    assert data.read_smic(tmp_path / "SMIC_all_cropped", "HS").release == "cropped"
    with pytest.raises(data.CorpusLayoutError, match="SMIC_all_cropped/VIS/"):
        data.read_smic(tmp_path, "VIS")


def test_smic_malformed_tree_listed(smic_tree, tmp_path):
    root, _ = _copy(smic_tree, tmp_path)
    hs = root / "SMIC_all_raw" / "HS"
    (hs / "subject7" / "micro").mkdir(parents=True)
    (hs / "s9").mkdir()
    mf.write_clip(hs / "s1" / "micro" / "happy" / "s1_ha_01", ["image000001.bmp"], 0)
    (hs / "s2" / "micro" / "surprise" / "s2_sur_01" / "image003095.bmp").write_bytes(b"")
    (hs / "s2" / "micro" / "surprise" / "s2_sur_01" / "thumb.bmp").write_bytes(b"")
    with pytest.raises(data.CorpusLayoutError) as err:
        data.read_smic(root, "HS")
    message = str(err.value)
    assert "SMIC_all_raw/HS/subject7/ (subject folders are named sN)" in message
    assert "SMIC_all_raw/HS/s9/ (no micro/ folder)" in message
    assert "unknown emotion folders" in message and "s1/micro/happy" in message
    assert "s2_sur_01/thumb.bmp (no frame number in the name)" in message
    with pytest.raises(ValueError, match="`subset` must be 'HS', 'VIS' or 'NIR'"):
        data.read_smic(root, "IR")


def test_smic_missing_subset_names_layout(tmp_path):
    with pytest.raises(data.CorpusLayoutError, match=r"SMIC_all_raw/HS/.*expected <root>/SMIC"):
        data.read_smic(tmp_path, "HS")


def test_read_corpus_names_and_aliases(smic_tree, casme2_tree):
    assert data.read_corpus("SMIC_HS", smic_tree[0]).name == "smic-hs"
    assert data.read_corpus("casme-ii", casme2_tree[0]).name == "casme2"
    for name in ("casme2", "smic-hs", "smic-vis", "smic-nir", "samm"):
        assert name in data.CORPORA and name in data.ME_CORPORA
    with pytest.raises(ValueError, match="unknown corpus 'smic'"):
        data.read_corpus("smic", smic_tree[0])
