"""Tests for the synthetic micro-expression databases (dalib.synth.build_me).

One tiny build (the first 2 subjects x at most 3 clips of each of the five
databases, frames and spreadsheets only) is shared by the module; the real
readers of dalib.data read it.
"""

import hashlib
import json
import pathlib
import zipfile

import numpy as np
import pytest

from dalib import cli
from dalib.data import CorpusLayoutError, read_corpus
from dalib.data._casme2 import CASME2_DROPPED, CASME2_LABELS
from dalib.data._samm import SAMM_DROPPED, SAMM_LABELS
from dalib.synth import (
    ME_DATABASES,
    _face_model,
    _me,
    _me_layout,
    build_me,
    is_current_build,
    load_manifest,
    load_synthetic_me_table,
    resolve_me_database,
)
from dalib.synth._me_layout import frame_name

TINY = {"num_subjects": 2, "clips_per_subject": 3}
NAMES = ("casme2", "smic-hs", "smic-vis", "smic-nir", "samm")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_me")
    paths = build_me(root, feature_sets=(), num_workers=0, **TINY)
    return root, paths


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", NAMES)
def test_real_readers_read_the_tiny_build(tiny, name):
    root, paths = tiny
    assert paths[name] == root / name
    manifest = load_manifest(paths[name])
    corpus = read_corpus(name, paths[name])
    in_map = [c for c in manifest["clips"] if c["label"]]
    assert len(corpus) == len(in_map) == manifest["num_clips_in_map"]
    expected = {f"{c['subject']}/{c['name']}": c for c in in_map}
    assert sorted(corpus.files) == sorted(expected)
    for clip in corpus.clips:
        want = expected[clip.file]
        assert clip.label == want["label"]
        assert clip.subject == want["subject"]
        assert len(clip.frames) == want["num_frames"]
        assert clip.onset == want["onset_frame"] and clip.offset == want["offset_frame"]
        if name in ("casme2", "samm"):  # coded in a spreadsheet: apex kept
            assert clip.apex == want["apex_frame"]
    # the emotions outside the 3-class map are dropped and counted
    dropped = {}
    for c in manifest["clips"]:
        if not c["label"]:
            key = c["emotion"].lower()
            dropped[key] = dropped.get(key, 0) + 1
    assert dict(corpus.dropped) == dropped


def test_frames_match_the_database_camera(tiny):
    import cv2

    _, paths = tiny
    for name in NAMES:
        spec = ME_DATABASES[name]
        clip = load_manifest(paths[name])["clips"][0]
        first = paths[name] / clip["folder"] / frame_name(spec, clip, clip["onset_frame"])
        image = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint8 and image.ndim == 2
        assert image.shape[::-1] == spec.imaging.size
        assert first.suffix == "." + spec.frame_format


def test_haar_detector_finds_the_face_on_onset_frames(tiny):
    import cv2

    from dalib.data._face import find_face

    _, paths = tiny
    found = total = 0
    for name in NAMES:
        spec = ME_DATABASES[name]
        for clip in load_manifest(paths[name])["clips"]:
            path = paths[name] / clip["folder"] / frame_name(spec, clip, clip["onset_frame"])
            box = find_face(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
            found += box.detected
            total += 1
    assert found >= total - 1, f"face found on {found} of {total} onset frames"


def test_same_seed_gives_identical_bytes(tiny, tmp_path):
    _, paths = tiny
    again = build_me(tmp_path, databases=["C", "S"], feature_sets=(), num_workers=0, **TINY)
    for name in ("casme2", "samm"):
        a, b = _digests(paths[name]), _digests(again[name])
        assert a and a == b
    other = build_me(
        tmp_path / "seed1", seed=1, databases=["C"], feature_sets=(), num_workers=0, **TINY
    )
    first = _digests(paths["casme2"])
    assert _digests(other["casme2"]) != first


def test_spreadsheets_carry_no_timestamps(tiny):
    _, paths = tiny
    for name, sheet in (("casme2", "CASME2-coding-20140508.xlsx"), ("samm", None)):
        path = paths[name] / (sheet or "SAMM_Micro_FACS_Codes_v2.xlsx")
        with zipfile.ZipFile(path) as z:
            assert {i.date_time for i in z.infolist()} == {_me_layout._FIXED_TIME}
            core = z.read("docProps/core.xml").decode()
        assert core.count("2014-05-08T00:00:00Z") == 2


def test_samm_sheet_has_title_rows_before_the_header(tiny):
    import openpyxl

    _, paths = tiny
    ws = openpyxl.load_workbook(paths["samm"] / "SAMM_Micro_FACS_Codes_v2.xlsx").active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[13][:2] == ("Subject", "Filename")
    assert rows[13][10] == "Estimated Emotion"
    assert all(r[0] in (None,) or isinstance(r[0], str) for r in rows[:13])


def test_vis_and_nir_film_the_same_events(tiny):
    _, paths = tiny
    vis, nir = (load_manifest(paths[n])["clips"] for n in ("smic-vis", "smic-nir"))
    keys = ("subject", "name", "emotion", "aus", "num_frames", "apex_frame", "blink")
    assert [{k: c[k] for k in keys} for c in vis] == [{k: c[k] for k in keys} for c in nir]
    a = _digests(paths["smic-vis"] / "SMIC_all_raw" / "VIS")
    b = _digests(paths["smic-nir"] / "SMIC_all_raw" / "NIR")
    assert len(a) == len(b) and set(a.values()).isdisjoint(b.values())


@pytest.mark.parametrize(
    ("name", "subjects", "in_map", "fps"),
    [
        ("casme2", 26, 145, 200),
        ("smic-hs", 16, 164, 100),
        ("smic-vis", 8, 71, 25),
        ("smic-nir", 8, 71, 25),
        ("samm", 28, 133, 200),
    ],
)
def test_full_plans_match_the_real_databases(name, subjects, in_map, fps):
    spec = ME_DATABASES[name]
    plan = _me.plan_database(spec, seed=0)
    assert spec.fps == fps
    assert len({c["subject"] for c in plan}) == len(spec.subjects) == subjects
    assert sum(1 for c in plan if c["label"]) == in_map
    assert len({(c["subject"], c["name"]) for c in plan}) == len(plan)  # unique clip folders
    for c in plan:
        assert c["duration_s"] <= 0.5
        assert c["num_frames"] == round(c["duration_s"] * fps) + 1
        assert c["onset_frame"] < c["apex_frame"] < c["offset_frame"]
        assert c["offset_frame"] - c["onset_frame"] + 1 == c["num_frames"]
    assert plan == _me.plan_database(spec, seed=0)
    assert plan != _me.plan_database(spec, seed=1)


@pytest.mark.parametrize(
    ("name", "labels", "dropped"),
    [("casme2", CASME2_LABELS, CASME2_DROPPED), ("samm", SAMM_LABELS, SAMM_DROPPED)],
)
def test_class_maps_agree_with_the_readers(name, labels, dropped):
    spec = ME_DATABASES[name]
    outside = [e for e in spec.emotions if e not in spec.class_map]
    assert outside, "some clips must lie outside the 3-class map"
    for emotion in spec.emotions:
        if emotion in spec.class_map:
            assert labels[emotion.lower()] == spec.class_map[emotion]
        else:
            assert emotion.lower() in dropped


def _motion(frames: np.ndarray, rows: slice) -> float:
    diff = np.abs(frames.astype(np.float32) - frames[0].astype(np.float32))
    return float(diff.max(axis=0)[rows].mean())


def test_action_units_move_their_own_region():
    face = _face_model.FaceParams()
    imaging = _face_model.Imaging(size=(160, 120), noise=0.0, head_motion=0.0, jitter=0.0)
    a = imaging.face_width * imaging.size[0] / 2
    cy = imaging.face_y * imaging.size[1]
    brows = slice(int(cy - 0.75 * a), int(cy - 0.3 * a))
    mouth = slice(int(cy + 0.6 * a), int(cy + 0.95 * a))
    kwargs = dict(times=np.arange(41) / 100, onset=0.0, apex=0.15, offset=0.4, blink=None)
    smile = _face_model.render_clip(
        face, imaging, aus=[(12, 1.0, "B")], amplitude=0.06, rng=np.random.default_rng(0), **kwargs
    )
    frown = _face_model.render_clip(
        face, imaging, aus=[(4, 1.0, "B")], amplitude=0.06, rng=np.random.default_rng(0), **kwargs
    )
    assert _motion(smile, mouth) > 3 * _motion(smile, brows)
    assert _motion(frown, brows) > 3 * _motion(frown, mouth)
    # the onset and offset frames are the neutral face
    np.testing.assert_array_equal(smile[0], frown[0])
    assert np.abs(smile[-1].astype(int) - smile[0].astype(int)).max() <= 1


def test_intensity_profile_is_an_onset_apex_offset_bump():
    t = np.linspace(-0.1, 0.5, 61)
    w = _face_model.intensity_profile_time(t, 0.0, 0.12, 0.4)
    assert w[t < 0].max() == 0 and w[t > 0.4].max() == 0
    assert w.max() == pytest.approx(1.0) and t[np.argmax(w)] == pytest.approx(0.12)
    rise = w[(t >= 0) & (t <= 0.12)]
    assert np.all(np.diff(rise) >= 0)


def test_subsets_are_not_current_and_names_resolve(tiny):
    _, paths = tiny
    assert not is_current_build(paths["casme2"])
    manifest = load_manifest(paths["casme2"])
    assert manifest["kind"] == "me" and manifest["subset"] == [2, 3]
    for alias in ("C", "casme2", "CASME II", "synth-casme2"):
        assert resolve_me_database(alias).name == "casme2"
    assert resolve_me_database("smic_nir").name == "smic-nir"
    assert resolve_me_database("S").name == "samm"


def test_cached_build_is_not_rendered_again(tiny):
    root, paths = tiny
    folder = paths["smic-vis"]
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*.bmp")}
    build_me(root, databases=["V"], feature_sets=(), num_workers=0, **TINY)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.bmp")} == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"databases": ["casme3"]}, "unknown synthetic micro-expression database 'casme3'"),
        ({"num_subjects": 0}, "`num_subjects` must be a positive integer"),
        ({"clips_per_subject": -2}, "`clips_per_subject` must be a positive integer"),
        ({"num_workers": -1}, "`num_workers` must be a non-negative integer"),
        ({"feature_sets": "lbptop"}, "`feature_sets` must be a sequence"),
    ],
)
def test_bad_arguments_fail_clearly(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_me(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_a_folder_that_is_not_a_build_is_never_replaced(tmp_path):
    real = tmp_path / "casme2" / "CASME2_RAW_selected"
    real.mkdir(parents=True)
    (real / "keep.txt").write_text("real data")
    with pytest.raises(FileExistsError, match="not a synthetic micro-expression build"):
        build_me(tmp_path, databases=["C"], feature_sets=(), num_workers=0, **TINY)
    assert (real / "keep.txt").read_text() == "real data"


def test_speech_loader_points_to_the_me_loader(tmp_path):
    from dalib.synth import load_synthetic_table

    with pytest.raises(ValueError, match=r"load_synthetic_me_table\('samm'\)"):
        load_synthetic_table("samm", root=tmp_path, build=False)


def test_missing_table_without_build_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"dalib\.synth\.build_me"):
        load_synthetic_me_table("V", root=tmp_path, build=False)
    with pytest.raises(ValueError, match="unknown synthetic micro-expression database"):
        load_synthetic_me_table("X", root=tmp_path)


def test_reader_reports_a_clip_folder_removed_from_the_build(tiny, tmp_path):
    import shutil

    _, paths = tiny
    copy = tmp_path / "casme2"
    shutil.copytree(paths["casme2"], copy)
    clip = next(c for c in load_manifest(copy)["clips"] if c["label"])
    shutil.rmtree(copy / clip["folder"])
    with pytest.raises(CorpusLayoutError, match=clip["name"]):
        read_corpus("casme2", copy)


@pytest.mark.slow
def test_cli_builds_a_subset(tmp_path, capsys):
    argv = ["synth", "me", "--out", str(tmp_path), "--databases", "V", "--subjects", "1"]
    code = cli.main([*argv, "--clips", "1", "--feature-sets", ""])
    assert code == 0
    assert "smic-vis:" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "smic-vis" / "manifest.json").read_text())
    assert manifest["num_clips"] == 1
    assert cli.main(["synth", "me", "--out", str(tmp_path), "--databases", "Q"]) != 0
    assert "unknown synthetic micro-expression database" in capsys.readouterr().err


@pytest.mark.slow
def test_worker_processes_write_the_same_bytes(tiny, tmp_path):
    _, paths = tiny
    again = build_me(tmp_path, databases=["H", "V"], feature_sets=(), num_workers=2, **TINY)
    for name in ("smic-hs", "smic-vis"):
        assert _digests(paths[name]) == _digests(again[name])


def test_lbptop_table_through_the_real_pipeline(tmp_path):
    build_me(tmp_path, databases=["V"], num_workers=0, **TINY)
    table = load_synthetic_me_table("V", root=tmp_path, build=False)
    manifest = load_manifest(tmp_path / "smic-vis")
    assert table.features.shape == (manifest["num_clips_in_map"], 15045)
    assert sorted(table.files.tolist()) == sorted(
        f"{c['subject']}/{c['name']}" for c in manifest["clips"]
    )
    assert np.isfinite(table.features).all()
    assert manifest["tables"]["lbptop"]["path"] == "features/lbptop.npz"
