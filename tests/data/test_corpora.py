"""Corpus readers on fixture trees in the real layouts, and audio decoding."""

import collections
import shutil

import numpy as np
import pytest

from dalib import data

try:
    from . import fixtures
except ImportError:
    import fixtures


def _check(corpus, written):
    labels = collections.Counter(label for _, label, _ in written)
    speakers = collections.Counter(spk for _, _, spk in written)
    assert len(corpus) == len(written)
    assert corpus.counts("label") == dict(sorted(labels.items()))
    assert corpus.counts("speaker") == dict(sorted(speakers.items()))
    assert {(r.file, r.label, r.speaker) for r in corpus.records} == set(written)
    assert set(corpus.labels) <= set(corpus.label_names) <= set(data.CANONICAL_LABELS)
    assert all(r.path.is_file() for r in corpus.records)


def _copy(tree, tmp_path):
    root, written = tree
    dest = tmp_path / "copy"
    shutil.copytree(root, dest)
    return dest, written


# --- EmoDB ---------------------------------------------------------------------


def test_emodb_parses_fixture(emodb_tree):
    root, written = emodb_tree
    corpus = data.read_emodb(root)
    _check(corpus, written)
    assert corpus.name == "emodb"
    assert corpus.label_names == (
        "angry", "boredom", "disgust", "fear", "happy", "neutral", "sad"
    )  # fmt: skip
    assert corpus.label_map == {
        "W": "angry", "L": "boredom", "E": "disgust", "A": "fear",
        "F": "happy", "T": "sad", "N": "neutral",
    }  # fmt: skip
    assert corpus.dropped == {}


def test_emodb_missing_root_names_layout(tmp_path):
    with pytest.raises(data.CorpusLayoutError, match=r"does not exist.*wav/\*\.wav named like"):
        data.read_emodb(tmp_path / "nowhere")


def test_emodb_missing_wav_dir_names_layout(tmp_path):
    (tmp_path / "wavs").mkdir()
    with pytest.raises(
        data.CorpusLayoutError, match=r"wav does not exist; expected <root>/wav/\*\.wav"
    ):
        data.read_emodb(tmp_path)


def test_emodb_empty_wav_dir(tmp_path):
    (tmp_path / "wav").mkdir()
    with pytest.raises(data.CorpusLayoutError, match="no utterances found"):
        data.read_emodb(tmp_path)


def test_emodb_lists_every_bad_name(emodb_tree, tmp_path):
    root, _ = _copy(emodb_tree, tmp_path)
    bad = ["03a01Xa.wav", "05a01Wa.wav", "hello.wav", "03a01Wa.mp3"]
    for name in bad:
        (root / "wav" / name).write_bytes(b"")
    with pytest.raises(data.CorpusLayoutError) as info:
        data.read_emodb(root)
    message = str(info.value)
    assert "4 file(s) do not match" in message
    for name in bad:
        assert name in message


# --- eNTERFACE'05 ----------------------------------------------------------------


def test_enterface_parses_fixture(enterface_tree):
    root, written = enterface_tree
    corpus = data.read_enterface(root)
    _check(corpus, written)
    assert corpus.label_names == ("angry", "disgust", "fear", "happy", "sad", "surprise")
    assert corpus.counts("speaker") == {"1": 7, "6": 2}  # subject 6 incomplete: tolerated
    assert all(r.path.suffix == ".avi" for r in corpus.records)


def test_enterface_without_subjects_names_layout(tmp_path):
    (tmp_path / "anger").mkdir()
    with pytest.raises(data.CorpusLayoutError, match=r"no 'subject N' folder.*sN_<em>_K\.avi"):
        data.read_enterface(tmp_path)


def test_enterface_code_must_match_folder(enterface_tree, tmp_path):
    root, _ = _copy(enterface_tree, tmp_path)
    wrong = root / "subject 1" / "fear" / "sentence 2" / "s1_ha_2.avi"
    wrong.parent.mkdir()
    wrong.write_bytes(b"")
    (root / "subject 1" / "joy").mkdir()
    with pytest.raises(data.CorpusLayoutError) as info:
        data.read_enterface(root)
    assert "subject 1/fear/sentence 2/s1_ha_2.avi" in str(info.value)
    assert "subject 1/joy/ (unknown emotion folder)" in str(info.value)


# --- CASIA -------------------------------------------------------------------------


def test_casia_parses_fixture(casia_tree):
    root, written = casia_tree
    corpus = data.read_casia(root)
    _check(corpus, written)
    assert corpus.counts("label") == dict.fromkeys(fixtures.CASIA_EMOTIONS, 3)
    assert corpus.counts("speaker") == {"liuchanhg": 12, "wangzhe": 6}


def test_casia_empty_root_names_layout(tmp_path):
    with pytest.raises(data.CorpusLayoutError, match=r"no speaker folder.*<speaker>/<emotion>"):
        data.read_casia(tmp_path)


def test_casia_lists_bad_entries(casia_tree, tmp_path):
    root, _ = _copy(casia_tree, tmp_path)
    (root / "wangzhe" / "Angry_old").mkdir()
    (root / "wangzhe" / "sad" / "201.txt").write_text("x")
    with pytest.raises(data.CorpusLayoutError) as info:
        data.read_casia(root)
    assert "wangzhe/Angry_old/ (unknown emotion folder)" in str(info.value)
    assert "wangzhe/sad/201.txt" in str(info.value)


# --- IEMOCAP -----------------------------------------------------------------------


def test_iemocap_parses_fixture(iemocap_tree):
    root, written = iemocap_tree
    corpus = data.read_iemocap(root)
    _check(corpus, written)
    assert corpus.label_names == ("angry", "happy", "neutral", "sad")
    assert corpus.dropped == fixtures.IEMOCAP_DROPPED
    assert corpus.label_map["exc"] == "happy" == corpus.label_map["hap"]
    excited = [r for r in corpus.records if r.original_label == "exc"]
    assert len(excited) == 2 and {r.label for r in excited} == {"happy"}


def test_iemocap_missing_evaluation_names_layout(iemocap_tree, tmp_path):
    root, _ = _copy(iemocap_tree, tmp_path)
    shutil.rmtree(root / "Session2" / "dialog")
    with pytest.raises(data.CorpusLayoutError, match=r"EmoEvaluation does not exist; expected"):
        data.read_iemocap(root)


def test_iemocap_without_sessions(tmp_path):
    with pytest.raises(data.CorpusLayoutError, match=r"no SessionN folder.*EmoEvaluation"):
        data.read_iemocap(tmp_path)


def test_iemocap_unlabelled_and_missing_wavs_are_listed(iemocap_tree, tmp_path):
    root, _ = _copy(iemocap_tree, tmp_path)
    wav_dir = root / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    shutil.copy(wav_dir / "Ses01F_impro01_F000.wav", wav_dir / "Ses01F_impro01_F099.wav")
    shutil.copy(wav_dir / "Ses01F_impro01_F000.wav", wav_dir / "notes.wav")
    (wav_dir / "Ses01F_impro01_M000.wav").unlink()
    with pytest.raises(data.CorpusLayoutError) as info:
        data.read_iemocap(root)
    message = str(info.value)
    assert "Ses01F_impro01_F099.wav (no label" in message
    assert "notes.wav (name is not" in message
    assert "Ses01F_impro01_M000.wav (labelled, but not found" in message


# --- registry and audio ----------------------------------------------------------


@pytest.mark.parametrize("name", ["emodb", "EmoDB", "emo-db", "Berlin"])
def test_read_corpus_aliases(name, emodb_tree):
    assert data.read_corpus(name, emodb_tree[0]).name == "emodb"


def test_read_corpus_unknown():
    with pytest.raises(ValueError, match="unknown corpus 'savee'; choose one of emodb"):
        data.read_corpus("savee", ".")


def test_load_audio_resamples_and_downmixes(tmp_path):
    rate = 44100
    t = np.arange(rate // 4) / rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t)] * 2, axis=1)
    import soundfile as sf

    sf.write(tmp_path / "a.wav", stereo, rate, "FLOAT")
    x = data.load_audio(tmp_path / "a.wav", 16000)
    assert x.dtype == np.float32 and x.shape == (4000,)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    assert np.argmax(spectrum) * 16000 / x.size == pytest.approx(1000, abs=8)
    np.testing.assert_allclose(np.abs(x[500:-500]).max(), 0.5, rtol=0.02)


def test_load_audio_demuxes_avi(enterface_tree):
    root, _ = enterface_tree
    corpus = data.read_enterface(root)
    x = data.load_audio(corpus.records[0].path, 16000)
    assert x.dtype == np.float32
    assert abs(x.size - fixtures.SECONDS * 16000) <= 16  # container rounding
    assert 0.05 < np.abs(x).max() < 1.0


@pytest.mark.parametrize("suffix", [".wav", ".avi"])
def test_corrupt_audio_is_named(tmp_path, suffix):
    path = tmp_path / f"03a01Wa{suffix}"
    path.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(data.AudioReadError, match=f"03a01Wa\\{suffix}"):
        data.load_audio(path)


def test_empty_audio_is_named(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "empty.wav", np.zeros(0), 16000)
    with pytest.raises(data.AudioReadError, match=r"empty\.wav holds no samples"):
        data.load_audio(tmp_path / "empty.wav")


def test_to_int16_round_trip():
    x = np.linspace(-1, 1, 101)
    back = data.to_int16(x).astype(np.float64) / 32768.0
    np.testing.assert_allclose(back, x, atol=1 / 32768)
