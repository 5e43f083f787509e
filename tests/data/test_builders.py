"""TFDS builders: build array_record from fixture trees, read back without TensorFlow."""

import collections
import importlib.util
import shutil
import sys

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
builders = pytest.importorskip("dalib.data.builders")

try:
    from . import fixtures
except ImportError:
    import fixtures


def _build(cls, manual_dir, data_dir):
    builder = cls(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


@pytest.fixture
def no_tensorflow():
    """Checks the TensorFlow-free path: skipped where TensorFlow is installed."""
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed; this checks building and reading without it")
    yield
    assert "tensorflow" not in sys.modules


@pytest.mark.parametrize(
    "name, tree",
    [
        ("emodb", "emodb_tree"),
        ("enterface", "enterface_tree"),
        ("casia", "casia_tree"),
        ("iemocap", "iemocap_tree"),
    ],
)
def test_builder_round_trip(name, tree, request, tmp_path, no_tensorflow):
    root, written = request.getfixturevalue(tree)
    cls = builders.BUILDERS[name]
    builder = _build(cls, root, tmp_path)
    shards = list((tmp_path / name / "1.0.0").glob(f"{name}-train.array_record-*"))
    assert shards, "expected array_record shards"

    source = builder.as_data_source()["train"]
    assert len(source) == len(written)
    names = builder.info.features["label"].names
    assert tuple(names) == cls.LABEL_NAMES
    examples = [source[i] for i in range(len(source))]
    got = {(ex["file"].decode(), names[ex["label"]], ex["speaker"].decode()) for ex in examples}
    assert got == set(written)
    per_label = collections.Counter(names[ex["label"]] for ex in examples)
    assert per_label == collections.Counter(label for _, label, _ in written)
    for ex in examples:
        audio = ex["audio"]
        assert audio.dtype == np.int16 and audio.ndim == 1
        assert abs(audio.size - fixtures.SECONDS * cls.SAMPLE_RATE) <= 16
        assert np.abs(audio).max() > 1000  # a real tone, not silence
    assert builder.info.metadata["sample_rate"] == 16000


def test_builder_reads_back_from_data_dir(emodb_tree, tmp_path, no_tensorflow):
    root, written = emodb_tree
    _build(builders.EmoDB, root, tmp_path)
    source = tfds.data_source("emodb", data_dir=str(tmp_path))["train"]
    assert len(source) == len(written)


def test_builder_reports_corrupt_audio_by_name(emodb_tree, tmp_path):
    root, _ = emodb_tree
    manual = tmp_path / "manual"
    shutil.copytree(root, manual)
    (manual / "wav" / "08a05Aa.wav").write_bytes(b"RIFF....not audio at all")
    with pytest.raises(Exception, match=r"08a05Aa\.wav"):
        _build(builders.EmoDB, manual, tmp_path / "data")


def test_builder_wrong_layout_names_it(tmp_path):
    manual = tmp_path / "manual"
    (manual / "audio").mkdir(parents=True)
    (manual / "audio" / "x.wav").write_bytes(b"")
    with pytest.raises(Exception, match=r"expected <root>/wav/\*\.wav named like 03a01Fa\.wav"):
        _build(builders.EmoDB, manual, tmp_path / "data")


def test_manual_instructions_name_layout():
    for cls in builders.BUILDERS.values():
        assert "manual_dir" in cls.MANUAL_DOWNLOAD_INSTRUCTIONS
        assert "<root>" in cls.MANUAL_DOWNLOAD_INSTRUCTIONS
