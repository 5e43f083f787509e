"""Micro-expression TFDS builders on the fixture trees: array_record out, read back without TF."""

import collections
import importlib.util
import shutil
import sys

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
pytest.importorskip("cv2")
builders = pytest.importorskip("dalib.data.builders")

from dalib import data  # noqa: E402


def _build(cls, manual_dir, data_dir):
    builder = cls(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


@pytest.fixture
def no_tensorflow():
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed; this checks building and reading without it")
    yield
    assert "tensorflow" not in sys.modules


@pytest.mark.parametrize(
    "name, tree, subset",
    [("casme2", "casme2_tree", None), ("smic-hs", "smic_tree", "HS"), ("samm", "samm_tree", None)],
)
def test_me_builder_round_trip(name, tree, subset, request, tmp_path, no_tensorflow):
    root, written = request.getfixturevalue(tree)
    written = written[subset] if subset else written
    cls = builders.BUILDERS[name]
    builder = _build(cls, root, tmp_path)
    shards = list((tmp_path / cls.name / "1.0.0").glob(f"{cls.name}-train.array_record-*"))
    assert shards, "expected array_record shards"
    source = builder.as_data_source()["train"]
    assert len(source) == len(written)
    names = builder.info.features["label"].names
    assert tuple(names) == data.ME_LABELS
    examples = [source[i] for i in range(len(source))]
    got = {(ex["file"].decode(), names[ex["label"]], ex["subject"].decode()) for ex in examples}
    assert got == set(written)
    assert collections.Counter(names[ex["label"]] for ex in examples) == collections.Counter(
        label for _, label, _ in written
    )
    corpus = data.read_corpus(name, root)
    clips = {c.file: c for c in corpus.clips}
    for ex in examples:
        clip = clips[ex["file"].decode()]
        assert ex["frames"].shape == (16, 112, 112) and ex["frames"].dtype == np.uint8
        assert (ex["onset"], ex["apex"], ex["offset"]) == tuple(
            -1 if v is None else v for v in (clip.onset, clip.apex, clip.offset)
        )
        assert ex["num_source_frames"] == len(clip.frames)
        expected = data.clip_to_array(clip, detect=True)
        np.testing.assert_allclose(ex["frames"] / 255.0, expected, atol=0.5 / 255 + 1e-6)
    assert builder.info.metadata["fps"] == corpus.fps


def test_me_builder_unreadable_frame_named(smic_tree, tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(smic_tree[0], manual)
    bad = next((manual / "SMIC_all_raw" / "VIS" / "s4" / "micro" / "surprise").rglob("*.bmp"))
    bad.write_bytes(b"BM not a bitmap")
    with pytest.raises(Exception, match=bad.name):
        _build(builders.SmicVIS, manual, tmp_path / "data")


def test_me_builder_wrong_layout_names_it(tmp_path):
    (tmp_path / "manual" / "frames").mkdir(parents=True)
    with pytest.raises(Exception, match=r"expected <root>/SAMM/006"):
        _build(builders.Samm, tmp_path / "manual", tmp_path / "data")
