"""Tests for the synthetic speech corpora (dalib.synth): build, cache, determinism, prosody.

One tiny build (2 speakers x 1 sentence x every emotion of the three corpora,
38 utterances) is shared by the module.
"""

import json
import pathlib

import numpy as np
import pytest
import soundfile

from dalib.data import Corpus, FeatureTable
from dalib.experiment.protocols import ser_tasks
from dalib.synth import (
    SPEECH_CORPORA,
    _build,
    build_speech_corpora,
    load_manifest,
    load_synthetic_table,
    render_utterance,
    synthesize,
)
from dalib.synth._reader import read_synthetic

TINY = {"num_speakers": 2, "num_sentences": 1}
CODES = {"B": "synth-emodb", "E": "synth-enterface", "C": "synth-casia"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    paths = build_speech_corpora(root, feature_sets=("is09",), num_workers=0, **TINY)
    return root, paths


def _wav_bytes(corpus_dir):
    return {p.name: p.read_bytes() for p in sorted(corpus_dir.glob("wav/*/*.wav"))}


def test_protocol_classes_are_covered():
    # every task of the B/E/C protocol finds its shared classes in both corpora
    for task in ser_tasks():
        for code in (task.source, task.target):
            assert set(task.classes) <= set(SPEECH_CORPORA[CODES[code]].emotions)


@pytest.mark.parametrize(
    ("name", "rate", "language"),
    [("synth-emodb", 16000, "de"), ("synth-enterface", 44100, "en"), ("synth-casia", 16000, "cmn")],
)
def test_layout_rates_and_labels(tiny, name, rate, language):
    root, paths = tiny
    spec = SPEECH_CORPORA[name]
    corpus_dir = paths[name]
    assert corpus_dir == root / name
    manifest = load_manifest(corpus_dir)
    assert manifest["classes"] == list(spec.emotions)
    assert manifest["language"] == language
    utts = manifest["utterances"]
    assert len(utts) == 2 * 1 * len(spec.emotions)
    assert sorted({u["label"] for u in utts}) == sorted(spec.emotions)
    assert {u["speaker"] for u in utts} == {s.name for s in spec.speakers[:2]}
    for u in utts:
        wav, sr = soundfile.read(corpus_dir / u["path"], dtype="float32")
        assert sr == rate
        assert wav.ndim == 1
        assert 0.8 < wav.size / sr < 10.0
        assert wav.size / sr == pytest.approx(u["duration_s"], abs=1e-3)
        assert np.sqrt(np.mean(wav**2)) > 1e-3
        assert u["path"] == f"wav/{u['speaker']}/{u['file']}.wav"
    table = load_synthetic_table(name, root=root, build=False)
    assert isinstance(table, FeatureTable)
    assert table.features.shape == (len(utts), 384)
    assert table.features.dtype == np.float32
    assert np.isfinite(table.features).all()
    assert table.labels.tolist() == [u["label"] for u in utts]
    assert table.speakers.tolist() == [u["speaker"] for u in utts]
    assert table.files.tolist() == [u["file"] for u in utts]
    assert len(set(table.files.tolist())) == len(utts)
    assert table.meta["corpus"] == name and table.meta["feature_set"] == "is09"


def test_aliases_and_reader(tiny):
    root, paths = tiny
    by_code = load_synthetic_table("C", root=root, build=False)
    by_name = load_synthetic_table("casia", root=root, build=False)
    np.testing.assert_array_equal(by_code.features, by_name.features)
    corpus = read_synthetic(paths["synth-casia"])
    assert isinstance(corpus, Corpus)
    assert corpus.name == "synth-casia"
    assert len(corpus) == 12
    assert list(corpus.label_names) == ["angry", "fear", "happy", "neutral", "sad", "surprise"]
    assert all(r.path.is_file() for r in corpus.records)


def test_cached_build_renders_nothing(tiny, monkeypatch):
    root, paths = tiny
    before = {n: _wav_bytes(p) for n, p in paths.items()}
    mtimes = {p: p.stat().st_mtime_ns for p in root.glob("*/wav/*/*.wav")}

    def boom(job):
        raise AssertionError("a cached corpus was rendered or extracted again")

    monkeypatch.setattr(_build, "_render_job", boom)
    monkeypatch.setattr(_build, "_feature_job", boom)
    again = build_speech_corpora(root, feature_sets=("is09",), num_workers=0, **TINY)
    assert again == paths
    assert {n: _wav_bytes(p) for n, p in again.items()} == before
    assert {p: p.stat().st_mtime_ns for p in root.glob("*/wav/*/*.wav")} == mtimes


def test_config_change_invalidates_cache(tmp_path, monkeypatch):
    calls = []

    def fake_render(job):
        spec, speaker, emotion, sentence, seed, path = job
        calls.append((speaker.name, emotion, sentence, seed))
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, np.zeros(1600, np.float32), spec.channel.sample_rate)
        return {"num_samples": 1600, "prosody": {}}

    monkeypatch.setattr(_build, "_render_job", fake_render)
    kwargs = {"corpora": ["B"], "feature_sets": (), "num_workers": 0, **TINY}
    build_speech_corpora(tmp_path, seed=0, **kwargs)
    assert len(calls) == 14
    build_speech_corpora(tmp_path, seed=0, **kwargs)
    assert len(calls) == 14  # cached
    build_speech_corpora(tmp_path, seed=1, **kwargs)
    assert len(calls) == 28 and calls[-1][-1] == 1  # a new seed renders everything again
    assert load_manifest(tmp_path / "synth-emodb")["seed"] == 1
    build_speech_corpora(tmp_path, seed=1, force=True, **kwargs)
    assert len(calls) == 42
    # a missing file invalidates the cache too
    next((tmp_path / "synth-emodb").glob("wav/*/*.wav")).unlink()
    build_speech_corpora(tmp_path, seed=1, **kwargs)
    assert len(calls) == 56
    # and so does a change of the corpus definition (here: one more sentence)
    build_speech_corpora(tmp_path, seed=1, **{**kwargs, "num_sentences": 2})
    assert len(calls) == 56 + 28


def test_render_is_deterministic_per_seed():
    spec = SPEECH_CORPORA["synth-enterface"]
    speaker = spec.speakers[1]
    a, pa = render_utterance(spec, speaker, "fear", 0, seed=0)
    b, pb = render_utterance(spec, speaker, "fear", 0, seed=0)
    c, pc = render_utterance(spec, speaker, "fear", 0, seed=1)
    np.testing.assert_array_equal(a, b)
    assert pa == pb
    assert pa != pc
    assert a.shape != c.shape or not np.array_equal(a, c)
    assert a.dtype == np.float32 and np.abs(a).max() <= 1.0


def test_synthesize_is_isolated_from_earlier_calls():
    # eSpeak NG carries state across utterances; each call must not see it
    first = synthesize("Guten Tag.", voice="de+m3")
    synthesize("Ein ganz anderer Satz, schneller.", voice="de+f2", rate=250, pitch=80)
    again = synthesize("Guten Tag.", voice="de+m3")
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.int16 and first.size > 5000


def test_workers_give_the_same_bytes(tiny, tmp_path):
    _, paths = tiny
    other = build_speech_corpora(
        tmp_path, corpora=["C"], feature_sets=(), num_workers=2, num_speakers=1, num_sentences=1
    )
    mine = _wav_bytes(other["synth-casia"])
    ref = _wav_bytes(paths["synth-casia"])
    assert len(mine) == 6
    for name, data in mine.items():
        assert data == ref[name], name


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic corpus 'X'"):
        build_speech_corpora(tmp_path, corpora=["X"])
    with pytest.raises(ValueError, match="unknown feature set"):
        build_speech_corpora(tmp_path, corpora=["B"], feature_sets=["mfcc42"])
    with pytest.raises(ValueError, match="num_speakers must be at least 1"):
        build_speech_corpora(tmp_path, corpora=["B"], num_speakers=0)
    with pytest.raises(FileNotFoundError, match="build_speech_corpora"):
        load_synthetic_table("B", root=tmp_path, build=False)


def _lld_means(paths):
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )
    f0, loud = [], []
    for path in paths:
        wav, sr = soundfile.read(path, dtype="float32")
        lld = smile.process_signal(wav, sr)
        pitch = lld["F0semitoneFrom27.5Hz_sma3nz"].to_numpy()
        f0.append(pitch[pitch > 0].mean())
        loud.append(lld["Loudness_sma3"].to_numpy().mean())
    return np.array(f0), np.array(loud)


def test_emotions_differ_in_the_intended_direction(tiny):
    """Labels mean something: F0, loudness and tempo move as the emotion says.

    Per corpus and speaker, the same sentence spoken angry vs sad and happy vs
    neutral is compared on openSMILE eGeMAPS low-level descriptors.
    """
    _, paths = tiny
    for name, corpus_dir in paths.items():
        manifest = json.loads((corpus_dir / "manifest.json").read_text())
        by = {(u["speaker"], u["label"]): u for u in manifest["utterances"]}
        speakers = manifest["speakers"]
        pairs = [("angry", "sad")]
        if "neutral" in manifest["classes"]:
            pairs.append(("happy", "neutral"))
        for high, low in pairs:
            f0_hi, loud_hi = _lld_means([corpus_dir / by[s, high]["path"] for s in speakers])
            f0_lo, loud_lo = _lld_means([corpus_dir / by[s, low]["path"] for s in speakers])
            # mean F0 higher by at least two semitones
            assert f0_hi.mean() > f0_lo.mean() + 2.0, (name, high, low, f0_hi, f0_lo)
            if (high, low) == ("angry", "sad"):
                assert loud_hi.mean() > 1.5 * loud_lo.mean(), (name, loud_hi, loud_lo)
                # sad is spoken more slowly: longer for the same sentence
                dur_hi = np.mean([by[s, high]["duration_s"] for s in speakers])
                dur_lo = np.mean([by[s, low]["duration_s"] for s in speakers])
                assert dur_lo > 1.1 * dur_hi, (name, dur_hi, dur_lo)


def test_tfds_builder_reads_the_manifest_layout(tiny, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from dalib.synth.builders import BUILDERS, SynthCasia

    _, paths = tiny
    assert set(BUILDERS) == set(SPEECH_CORPORA)
    builder = SynthCasia(data_dir=str(tmp_path))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(paths["synth-casia"]))
    )
    assert builder.name == "synth_casia"
    names = builder.info.features["label"].names
    assert names == sorted(SPEECH_CORPORA["synth-casia"].emotions)
    train = builder.as_data_source()["train"]
    manifest = load_manifest(paths["synth-casia"])
    assert len(train) == manifest["num_utterances"]
    by_file = {u["file"]: u for u in manifest["utterances"]}
    for i in range(len(train)):
        ex = train[i]
        u = by_file[ex["file"].decode()]
        assert names[ex["label"]] == u["label"]
        assert ex["speaker"].decode() == u["speaker"]
        assert ex["audio"].dtype == np.int16
        # stored at 16 kHz, as the corpus itself
        assert ex["audio"].size / 16000 == pytest.approx(u["duration_s"], abs=2e-3)


def test_is_current_build_tells_stale_and_subset_builds(tiny, tmp_path):
    from dalib.synth import _espeak, _speech, is_current_build, resolve_corpus

    _root, paths = tiny
    corpus_dir = paths["synth-casia"]
    assert not is_current_build(corpus_dir)  # a 2-speaker subset is not the defined corpus
    manifest = load_manifest(corpus_dir)
    full = _speech.spec_hash(
        resolve_corpus("C"), seed=manifest["seed"], espeak_ng=_espeak.espeak_version()
    )
    fake = tmp_path / "synth-casia"
    fake.mkdir()
    (fake / "manifest.json").write_text(json.dumps({**manifest, "config_hash": full}))
    assert is_current_build(fake)
    (fake / "manifest.json").write_text(json.dumps({**manifest, "config_hash": full[::-1]}))
    assert not is_current_build(fake)  # e.g. built by an older generator
    with pytest.raises(FileNotFoundError):
        is_current_build(tmp_path / "nothing")


def test_load_synthetic_table_renders_a_build_that_is_not_current(tiny, monkeypatch):
    # The tiny fixture is a subset build: not current. build=False returns it as it
    # is; build=True renders the corpus again (stubbed here: a full build takes a minute).
    root, _paths = tiny
    calls = []
    monkeypatch.setattr(_build, "build_speech_corpora", lambda *a, **k: calls.append((a, k)))
    assert len(load_synthetic_table("C", root=root, build=False)) > 0 and not calls
    load_synthetic_table("C", root=root, build=True, seed=5)
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert args[0] == root and kwargs["corpora"] == ["synth-casia"]
    assert kwargs["seed"] == load_manifest(root / "synth-casia")["seed"]  # keeps its seed
