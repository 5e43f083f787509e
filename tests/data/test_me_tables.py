"""Micro-expression feature tables (groups, subjects), MATLAB import, and their CLI commands."""

import shutil

import numpy as np
import pytest

from dalib import data
from dalib.cli import main

pytest.importorskip("cv2")
pytest.importorskip("openpyxl")

try:
    from . import me_fixtures as mf
except ImportError:
    import me_fixtures as mf

SMALL = {"size": (24, 24), "num_frames": 8, "grids": (1, 2)}


def _lbp():
    import dalib.features

    return dalib.features


@pytest.fixture
def small_defaults(monkeypatch):
    """Shrinks the default face size and length, so the CLI runs in a second."""
    from dalib.data import _face

    monkeypatch.setattr(_face, "FACE_SIZE", (24, 24))
    monkeypatch.setattr(_face, "NUM_FRAMES", 8)


def test_lbptop_table_from_casme2(casme2_tree, tmp_path):
    root, written = casme2_tree
    out = tmp_path / "casme2.npz"
    table = data.corpus_to_table("casme2", root, "LBP-TOP", out, me_options=SMALL)
    assert out.is_file()
    n_blocks = 1 + 4
    assert table.features.shape == (len(written), n_blocks * 177)
    rows = zip(table.files, table.labels, table.subjects, strict=True)
    assert set(rows) == set(written)
    assert table.speakers is None
    np.testing.assert_array_equal(table.groups, np.repeat(np.arange(n_blocks), 177))
    # a row is the descriptor of the preprocessed clip (raw release: detection on)
    corpus = data.read_casme2(root)
    clip = corpus.clips[2]
    row = list(table.files).index(clip.file)
    volume = data.clip_to_array(clip, size=(24, 24), num_frames=8, detect=True)
    expected = np.asarray(_lbp().lbp_top(volume, grids=(1, 2)))
    np.testing.assert_allclose(table.features[row], expected, rtol=1e-6, atol=1e-7)
    for block in range(n_blocks):  # per-plane normalised histograms
        sums = table.features[:, table.groups == block].reshape(len(table), 3, 59).sum(-1)
        np.testing.assert_allclose(sums, 1.0, rtol=1e-5)
    meta = table.meta
    assert meta["corpus"] == "casme2" and meta["feature_set"] == "lbptop"
    assert meta["dropped"] == {"others": 1, "repression": 1}
    assert meta["face"]["fallback_centre_square"] == len(written)  # no faces in the fixture
    assert sorted(meta["face"]["fallback_clips"]) == sorted(f for f, _, _ in written)
    assert meta["options"] == {
        "size": [24, 24],
        "num_frames": 8,
        "span": "all",
        "grids": [1, 2],
        "radii": [3, 3, 3],
        "neighbours": 8,
    }
    assert meta["onset_apex_offset"]["sub03/EP09_04"] == [50, None, 57]
    assert table.feature_names[0] == "lbptop_b00_xy00" and table.feature_names[-1] == (
        "lbptop_b04_yt58"
    )


def test_lbpsip_csv_table_round_trips_groups(smic_tree, tmp_path):
    root, written = smic_tree
    out = tmp_path / "smic.csv"
    table = data.corpus_to_table("smic-vis", root, "lbpsip", out, me_options=SMALL)
    assert table.features.shape == (len(written["VIS"]), 5 * 20)
    np.testing.assert_array_equal(table.groups, np.repeat(np.arange(5), 20))
    assert out.read_text().splitlines()[1].startswith("# dalib-groups: 0,0,")
    again = data.load_table(out)
    np.testing.assert_array_equal(again.groups, table.groups)
    np.testing.assert_array_equal(again.subjects, table.subjects)
    assert again.meta["release"] == "raw" and again.meta["fps"] == 25


def test_cropped_release_runs_no_detector(tmp_path):
    written = mf.make_samm(tmp_path / "samm", release="cropped")
    table = data.corpus_to_table("samm", tmp_path / "samm", "lbpsip", tmp_path / "t.npz",
                                 me_options=SMALL)
    assert len(table) == len(written)
    assert table.meta["face"]["detector"] == "none"
    assert table.meta["face"]["fallback_centre_square"] == 0


def test_unreadable_frame_is_named_and_nothing_written(casme2_tree, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(casme2_tree[0], root)
    bad = root / "CASME2_RAW_selected" / "sub02" / "EP01_11f" / "img43.jpg"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    out_dir = tmp_path / "tables"
    out_dir.mkdir()
    with pytest.raises(data.FrameReadError, match=r"sub02/EP01_11f/img43\.jpg"):
        data.corpus_to_table("casme2", root, "lbptop", out_dir / "t.npz", me_options=SMALL)
    assert list(out_dir.iterdir()) == []


def test_me_table_bad_options(casme2_tree, tmp_path):
    root, _ = casme2_tree
    with pytest.raises(ValueError, match="unknown micro-expression feature set 'is09'"):
        data.me_corpus_to_table("casme2", root, "is09", tmp_path / "t.npz")
    with pytest.raises(ValueError, match=r"unknown micro-expression table option\(s\) \['sizes'\]"):
        data.me_corpus_to_table("casme2", root, "lbptop", tmp_path / "t.npz", sizes=3)
    with pytest.raises(ValueError, match="unknown micro-expression corpus"):
        data.read_me_corpus("casme3", root)


# --- groups in FeatureTable -----------------------------------------------------


def test_groups_validated_on_save_and_load(tmp_path):
    x = np.ones((2, 4))
    with pytest.raises(data.TableError, match=r"`groups` must give one group per feature column"):
        data.save_table(tmp_path / "a.npz", x, ["a", "b"], groups=[0, 1])
    with pytest.raises(data.TableError, match="`groups` must be integers"):
        data.save_table(tmp_path / "a.npz", x, ["a", "b"], groups=[0, 0.5, 1, 1])
    np.savez(tmp_path / "b.npz", features=x, labels=np.array(["a", "b"]), groups=np.ones(3, int))
    with pytest.raises(data.TableError, match="one group per feature column"):
        data.load_table(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", features=x, labels=np.array(["a", "b"]), groups=np.array(
        [0.0, 0.0, 1.0, 1.0]))
    assert data.load_table(tmp_path / "c.npz").groups.tolist() == [0, 0, 1, 1]
    csv = tmp_path / "d.csv"
    csv.write_text("# dalib-groups: 0,x,1,1\nlabel,f0,f1,f2,f3\na,1,2,3,4\n")
    with pytest.raises(data.TableError, match="comma-separated integers"):
        data.load_table(csv)
    csv.write_text("# dalib-groups: 0,1\nlabel,f0,f1,f2,f3\na,1,2,3,4\n")
    with pytest.raises(data.TableError, match="one group per feature column"):
        data.load_table(csv)
    assert data.load_table(tmp_path / "c.npz").speakers is None
    plain = data.save_table(tmp_path / "e.npz", x, ["a", "b"])
    assert data.load_table(plain).groups is None


# --- MATLAB import --------------------------------------------------------------


def _savemat(path, variables):
    scipy_io = pytest.importorskip("scipy.io")
    scipy_io.savemat(path, variables)
    return path


def test_import_mat_v5_samples_by_rows_with_text(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((5, 7))
    labels = np.array(["negative", "positive", "surprise", "negative", "positive"], dtype=object)
    path = _savemat(
        tmp_path / "f.mat",
        {
            "feat": x,
            "lab": labels.reshape(-1, 1),  # a cell column
            "subj": np.array([[1, 1, 2, 2, 3]]),
            "grp": np.array([[1, 1, 2, 2, 2, 3, 3]]),
        },
    )
    table = data.import_mat(path, features="feat", labels="lab", subjects="subj", groups="grp")
    np.testing.assert_allclose(table.features, x.astype(np.float32))
    assert table.labels.tolist() == labels.tolist()
    assert table.subjects.tolist() == ["1", "1", "2", "2", "3"]
    assert table.groups.tolist() == [1, 1, 2, 2, 2, 3, 3]
    assert table.meta["format"] == "MATLAB v5" and table.meta["stored_orientation"] == "[N, D]"


def test_import_mat_v5_transposed_numeric_labels(tmp_path):
    x = np.arange(12.0).reshape(4, 3)  # [D=4, N=3]
    path = _savemat(tmp_path / "f.mat", {"X": x, "y": np.array([2, 1, 2]),
                                        "names": np.array(["a", "b", "c"])})
    with pytest.raises(data.TableError, match=r"numeric codes \[1, 2\].*label_names"):
        data.import_mat(path, features="X", labels="y")
    table = data.import_mat(path, features="X", labels="y", label_names={1: "neg", 2: "pos"})
    np.testing.assert_allclose(table.features, x.T)
    assert table.labels.tolist() == ["pos", "neg", "pos"]
    with pytest.raises(data.TableError, match=r"codes \[2\] have no name"):
        data.import_mat(path, features="X", labels="y", label_names={1: "neg"})
    table = data.import_mat(path, features="X", labels="y", label_names=["zero", "one", "two"])
    assert table.labels.tolist() == ["two", "one", "two"]
    # a char matrix of labels
    table = data.import_mat(path, features="X", labels="names")
    assert table.labels.tolist() == ["a", "b", "c"]


def test_import_mat_errors(tmp_path):
    path = _savemat(tmp_path / "f.mat", {"X": np.ones((3, 3)), "y": np.array(["a", "b", "c"]),
                                        "Z": np.ones((2, 5))})
    with pytest.raises(data.TableError, match=r"no variable features='feats'; the file holds: X"):
        data.import_mat(path, features="feats", labels="y")
    with pytest.raises(data.TableError, match="cannot tell which axis indexes samples"):
        data.import_mat(path, features="X", labels="y")
    assert len(data.import_mat(path, features="X", labels="y", samples_axis=1)) == 3
    with pytest.raises(data.TableError, match="neither axis matches"):
        data.import_mat(path, features="Z", labels="y")
    with pytest.raises(FileNotFoundError):
        data.import_mat(tmp_path / "none.mat", features="X", labels="y")
    (tmp_path / "junk.mat").write_bytes(b"garbage" * 30)
    with pytest.raises(data.TableError, match="not a readable MATLAB file"):
        data.import_mat(tmp_path / "junk.mat", features="X", labels="y")


def _h5_matlab(path, variables, userblock=True):
    """Writes a file laid out as MATLAB -v7.3 does: transposed arrays, MATLAB_class attrs."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512 if userblock else 0) as f:
        refs = f.create_group("#refs#")
        for name, value in variables.items():
            if isinstance(value, list):  # a cell array of strings, MATLAB shape [1, n]
                handles = []
                for k, text in enumerate(value):
                    d = refs.create_dataset(f"{name}_{k}", data=np.array(
                        [[ord(c)] for c in text], dtype=np.uint16))  # char [1, L] transposed
                    d.attrs["MATLAB_class"] = np.bytes_("char")
                    handles.append(d.ref)
                d = f.create_dataset(name, data=np.array(handles, dtype=h5py.ref_dtype).reshape(
                    -1, 1))
                d.attrs["MATLAB_class"] = np.bytes_("cell")
            else:
                d = f.create_dataset(name, data=np.asarray(value).T)
                d.attrs["MATLAB_class"] = np.bytes_("double")


@pytest.mark.parametrize("userblock", [True, False])
def test_import_mat_v73(tmp_path, userblock):
    rng = np.random.default_rng(1)
    x = rng.random((6, 4))  # MATLAB [D=6, N=4]: features x samples
    path = tmp_path / "f.mat"
    _h5_matlab(
        path,
        {
            "X": x,
            "y": ["negative", "surprise", "positive", "negative"],
            "s": np.array([[3.0, 3.0, 5.0, 5.0]]),
            "g": np.array([[0, 0, 1, 1, 2, 2]], dtype=float),
        },
        userblock=userblock,
    )
    table = data.import_mat(path, features="X", labels="y", subjects="s", groups="g")
    np.testing.assert_allclose(table.features, x.T.astype(np.float32))
    assert table.labels.tolist() == ["negative", "surprise", "positive", "negative"]
    assert table.subjects.tolist() == ["3", "3", "5", "5"]
    assert table.groups.tolist() == [0, 0, 1, 1, 2, 2]
    assert table.meta["format"] == "MATLAB v7.3 (HDF5)"
    with pytest.raises(data.TableError, match="the file holds: X, g, s, y"):
        data.import_mat(path, features="X", labels="labels")


# --- CLI ------------------------------------------------------------------------


def test_cli_features_me_corpus(samm_tree, tmp_path, capsys, small_defaults):
    root, written = samm_tree
    out = tmp_path / "samm.npz"
    assert main(["features", "--corpus", "samm", "--root", str(root), "--set", "lbpsip",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(written)} rows x 1700 features" in printed
    assert "dropped (outside the 3-class map): other 1" in printed
    assert "centred-square fallback in 4" in printed
    table = data.load_table(out)
    assert table.groups.shape == (1700,) and table.meta["options"]["size"] == [24, 24]


def test_cli_features_bad_me_root(tmp_path, capsys):
    assert main(["features", "--corpus", "smic-nir", "--root", str(tmp_path), "--set", "lbptop",
                 "--out", str(tmp_path / "t.npz")]) == 2
    assert "SMIC_all_raw/NIR/" in capsys.readouterr().err
    assert not (tmp_path / "t.npz").exists()


def test_cli_features_lbptop_defaults(casme2_tree, tmp_path):
    out = tmp_path / "casme2.npz"
    assert main(["features", "--corpus", "casme2", "--root", str(casme2_tree[0]), "--set",
                 "lbptop", "--out", str(out)]) == 0
    table = data.load_table(out)
    assert table.features.shape == (5, 15045)
    assert table.groups.max() == 84
    assert table.meta["options"]["size"] == [112, 112] and table.meta["options"]["num_frames"] == 16


def test_cli_import_mat(tmp_path, capsys):
    path = _savemat(tmp_path / "f.mat", {"X": np.ones((3, 5)), "y": np.array([1, 2, 1]),
                                        "g": np.array([0, 0, 1, 1, 1])})
    out = tmp_path / "t.npz"
    argv = ["import-mat", str(path), "--features", "X", "--labels", "y", "--groups", "g",
            "--label-names", "1=negative,2=positive", "--out", str(out)]
    assert main(argv) == 0
    assert "3 rows x 5 features" in capsys.readouterr().out
    table = data.load_table(out)
    assert table.labels.tolist() == ["negative", "positive", "negative"]
    assert table.groups.tolist() == [0, 0, 1, 1, 1]
    assert main([*argv[:3], "feats", *argv[4:]]) == 2
    assert "the file holds: X, g, y" in capsys.readouterr().err
    assert main([*argv[:8], "--label-names", "one=negative", "--out", str(out)]) == 2
    assert "--label-names must read like" in capsys.readouterr().err
