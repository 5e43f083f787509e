"""openSMILE functionals through `dalib.features.extract` on generated audio."""

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("opensmile")

from dalib import data, features

RATE = 16000


def _voice(seed, seconds=1.0):
    """A vowel-like harmonic tone with a pitch glide and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 140.0 + 20.0 * seed + 30.0 * t
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6))
    return (
        x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    ).astype(np.float32)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voices")
    paths = []
    for seed in range(2):
        path = folder / f"voice{seed}.wav"
        sf.write(path, _voice(seed), RATE, "FLOAT")
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    "name, dim", [("is09", 384), ("is10", 1582), ("egemaps", 88), ("compare", 6373)]
)
def test_dimensions_from_real_runs(name, dim, wavs):
    out = features.extract(wavs, set=name, cache=False)
    assert out.values.shape == (2, dim) and out.values.dtype == np.float32
    assert len(out.names) == dim == len(set(out.names)) == features.FEATURE_SETS[name]
    assert np.all(np.isfinite(out.values))
    assert not np.allclose(out.values[0], out.values[1])  # different voices differ


def test_paths_and_signals_agree(wavs):
    signal = data.load_audio(wavs[0], RATE)
    from_path = features.extract(wavs[0], set="egemaps", cache=False).values
    from_signal = features.extract(signal, set="egemaps", cache=False).values
    mixed = features.extract([signal, wavs[0]], set="egemaps", cache=False).values
    np.testing.assert_array_equal(from_path, from_signal)
    np.testing.assert_array_equal(mixed[0], mixed[1])


@pytest.mark.parametrize("alias", ["IS09_emotion", "IS09", "is-09"])
def test_aliases(alias):
    assert features.canonical_feature_set(alias) == "is09"


def test_unknown_set():
    with pytest.raises(ValueError, match="unknown feature set 'mfcc'; choose one of is09"):
        features.extract(np.zeros(RATE, np.float32), set="mfcc", cache=False)


def test_integer_signal_rejected():
    with pytest.raises(TypeError, match=r"float samples.*int16.*x / 32768"):
        features.extract(np.zeros(RATE, np.int16), set="egemaps", cache=False)


def test_missing_file_named(tmp_path):
    with pytest.raises(data.AudioReadError, match=r"gone\.wav does not exist"):
        features.extract([tmp_path / "gone.wav"], set="egemaps", cache=False)
