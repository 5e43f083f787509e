"""Feature tables: .npz / .csv round trips, validation, corpus_to_table."""

import json

import numpy as np
import pytest

from dalib import data

try:
    from . import fixtures
except ImportError:
    import fixtures


@pytest.fixture
def content():
    rng = np.random.default_rng(0)
    n, d = 7, 5
    return dict(
        features=(rng.standard_normal((n, d)) * 1e3).astype(np.float32),
        labels=["angry", "sad", "happy", "angry", "neutral", "sad", "fear"],
        speakers=["03", "03", "08", "08", "09", "09", "10"],
        files=[f"u{i}" for i in range(n)],
        subjects=["a", "b", "a", "b", "a", "b", "a"],
        feature_names=[f"pcm_{j}_sma" for j in range(d)],
        meta={"corpus": "emodb", "feature_set": "is09", "sample_rate": 16000},
    )


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_round_trip(suffix, content, tmp_path):
    path = tmp_path / f"table{suffix}"
    c = content
    data.save_table(
        path, c["features"], c["labels"], c["speakers"], c["files"],
        subjects=c["subjects"], feature_names=c["feature_names"], meta=c["meta"],
    )  # fmt: skip
    table = data.load_table(path)
    assert table.features.dtype == np.float32
    np.testing.assert_array_equal(table.features, c["features"])  # exact, float32
    for key in ("labels", "speakers", "files", "subjects"):
        assert getattr(table, key).tolist() == c[key]
    assert table.feature_names == tuple(c["feature_names"])
    assert dict(table.meta) == c["meta"]
    assert table.classes == ["angry", "fear", "happy", "neutral", "sad"]
    assert len(table) == 7


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_minimal_round_trip(suffix, tmp_path):
    path = tmp_path / f"t{suffix}"
    x = np.arange(6, dtype=np.float64).reshape(3, 2) / 3
    data.save_table(path, x, np.array(["a", "b", "a"]))
    table = data.load_table(path)
    np.testing.assert_array_equal(table.features, x.astype(np.float32))
    assert table.speakers is None and table.files is None and table.subjects is None
    if suffix == ".csv":
        assert table.feature_names == ("f0000", "f0001")
    else:
        assert table.feature_names is None


def test_npz_missing_key(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, features=np.ones((2, 2), np.float32), label=np.array(["a", "b"]))
    # A misspelt 'labels' is refused rather than read as an unlabelled table.
    with pytest.raises(ValueError, match=r"no 'labels' array but unknown array\(s\) \['label'\]"):
        data.load_table(path)
    np.savez(path, features=np.ones((2, 2), np.float32))
    assert data.load_table(path).labelled.tolist() == [False, False]


def test_npz_length_mismatch(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, features=np.ones((3, 2)), labels=np.array(["a", "b"]))
    with pytest.raises(
        ValueError, match=r"`labels` must have one entry per row.*\(2,\) and \(3, 2\)"
    ):
        data.load_table(path)
    np.savez(path, features=np.ones((2, 2)), labels=np.array(["a", "b"]), speakers=np.array(["s"]))
    with pytest.raises(ValueError, match="`speakers` must have one entry per row"):
        data.load_table(path)


def test_non_finite_rejected(tmp_path):
    x = np.ones((4, 3))
    x[2, 1] = np.nan
    x[3, 0] = np.inf
    path = tmp_path / "t.npz"
    np.savez(path, features=x, labels=np.array(["a"] * 4))
    with pytest.raises(
        ValueError, match=r"2 NaN or infinite values in 2 rows \(first rows: \[2, 3\]\)"
    ):
        data.load_table(path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        data.save_table(tmp_path / "u.npz", x, ["a"] * 4)


def test_integer_labels_rejected(tmp_path):
    with pytest.raises(ValueError, match="`labels` must be class names"):
        data.save_table(tmp_path / "t.npz", np.ones((2, 2)), np.array([0, 1]))


def test_pickled_npz_rejected(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, features=np.ones((2, 2)), labels=np.array(["a", "b"], dtype=object))
    with pytest.raises(ValueError, match="pickl"):
        data.load_table(path)


def test_csv_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("speaker,f1,f2\ns1,1.0,2.0\n")  # no label column: an unlabelled table
    table = data.load_table(path)
    assert table.labelled.tolist() == [False] and table.feature_names == ("f1", "f2")
    path.write_text("label,f1,f2\nangry,1.0,oops\n")
    with pytest.raises(ValueError, match="line 2 holds a non-numeric feature"):
        data.load_table(path)
    path.write_text("label,f1,f2\nangry,1.0\n")
    with pytest.raises(ValueError, match=r"rows \[2\] have a different number of fields"):
        data.load_table(path)
    path.write_text("label,f1\nangry,nan\n")
    with pytest.raises(ValueError, match="NaN or infinite"):
        data.load_table(path)


def test_csv_written_by_hand(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("File,Label,mfcc1,mfcc2\na.wav,sad,0.5,1e-3\nb.wav,happy,-2,3\n")
    table = data.load_table(path)
    assert table.labels.tolist() == ["sad", "happy"]
    assert table.files.tolist() == ["a.wav", "b.wav"]
    assert table.feature_names == ("mfcc1", "mfcc2")
    np.testing.assert_array_equal(table.features, np.array([[0.5, 1e-3], [-2, 3]], np.float32))


def test_bad_suffix_and_missing(tmp_path):
    with pytest.raises(ValueError, match=r"\.npz or \.csv"):
        data.save_table(tmp_path / "t.txt", np.ones((1, 1)), ["a"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_table(tmp_path / "none.npz")


@pytest.mark.parametrize("feature_set, dim", [("egemaps", 88), ("logmel", 128)])
def test_corpus_to_table(feature_set, dim, emodb_tree, tmp_path):
    root, written = emodb_tree
    out = tmp_path / "emodb.npz"
    table = data.corpus_to_table("emodb", root, feature_set, out, cache=tmp_path / "cache")
    assert table.features.shape == (len(written), dim)
    expected = {f: (label, spk) for f, label, spk in written}
    got = {
        f: (label, spk)
        for f, label, spk in zip(table.files, table.labels, table.speakers, strict=True)
    }
    assert got == expected
    assert table.meta["corpus"] == "emodb" and table.meta["feature_set"] == feature_set
    assert len(table.feature_names) == dim
    json.dumps(dict(table.meta))


def test_corpus_to_table_iemocap_meta(iemocap_tree, tmp_path):
    root, written = iemocap_tree
    table = data.corpus_to_table("iemocap", root, "logmel", tmp_path / "t.csv", cache=False)
    assert len(table) == len(written)
    assert table.meta["dropped"] == fixtures.IEMOCAP_DROPPED
    assert table.meta["label_names"] == ["angry", "happy", "neutral", "sad"]
