"""The disk feature cache: a second extraction computes nothing."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from dalib import audio as _audio
from dalib import features
from dalib.features import _extract

RATE = 16000


@pytest.fixture
def wavs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        t = np.arange(RATE // 2) / RATE
        x = 0.3 * np.sin(2 * np.pi * (200 + 50 * k) * t) + 0.01 * rng.standard_normal(t.size)
        path = tmp_path / f"u{k}.wav"
        sf.write(path, x, RATE, "PCM_16")
        paths.append(path)
    return paths


@pytest.fixture
def counted(monkeypatch):
    """Counts feature computations and audio decodes."""
    calls = {"compute": 0, "load": 0}
    compute, load = _extract._compute_one, _audio.load_audio

    def compute_counted(*args, **kwargs):
        calls["compute"] += 1
        return compute(*args, **kwargs)

    def load_counted(*args, **kwargs):
        calls["load"] += 1
        return load(*args, **kwargs)

    monkeypatch.setattr(_extract, "_compute_one", compute_counted)
    monkeypatch.setattr(_audio, "load_audio", load_counted)
    return calls


@pytest.mark.parametrize("name", ["egemaps", "logmel"])
def test_second_run_computes_nothing(name, wavs, tmp_path, counted):
    cache = features.FeatureCache(tmp_path / "cache")
    first = features.extract(wavs, set=name, cache=cache)
    assert counted == {"compute": 3, "load": 3} and cache.misses == 3
    second = features.extract(wavs, set=name, cache=cache)
    assert counted == {"compute": 3, "load": 3}  # nothing decoded or computed again
    assert cache.hits == 3
    np.testing.assert_array_equal(first.values, second.values)
    assert first.names == second.names


def test_key_is_content_and_config(wavs, tmp_path, counted):
    cache = features.FeatureCache(tmp_path / "cache")
    features.extract(wavs[0], set="logmel", cache=cache)
    renamed = tmp_path / "renamed.wav"
    shutil.copy(wavs[0], renamed)
    features.extract(renamed, set="logmel", cache=cache)  # same bytes: hit
    assert counted["compute"] == 1
    features.extract(wavs[0], set="logmel", cache=cache, logmel_options={"n_mels": 32})
    features.extract(wavs[0], set="logmel", cache=cache, sample_rate=8000)
    assert counted["compute"] == 3  # a changed option is a miss
    x, rate = sf.read(wavs[1])
    sf.write(wavs[0], x, rate, "PCM_16")  # new content under the old name
    features.extract(wavs[0], set="logmel", cache=cache)
    assert counted["compute"] == 4  # changed bytes under the old name: a miss
    assert cache.hits == 1


def test_signals_are_cached(tmp_path, counted):
    cache = features.FeatureCache(tmp_path / "cache")
    x = np.sin(np.arange(RATE) / 7.0).astype(np.float32) * 0.3
    features.extract(x, set="logmel", cache=cache)
    features.extract(x, set="logmel", cache=cache)
    features.extract(x * 0.5, set="logmel", cache=cache)
    assert counted["compute"] == 2 and counted["load"] == 0


def test_env_var_sets_default_dir(tmp_path, monkeypatch, counted):
    monkeypatch.setenv("DALIB_CACHE", str(tmp_path / "envcache"))
    x = np.sin(np.arange(RATE) / 5.0).astype(np.float32)
    features.extract(x, set="logmel")
    assert list((tmp_path / "envcache" / "features" / "logmel").rglob("*.npz"))
    features.extract(x, set="logmel", cache=True)
    assert counted["compute"] == 1
    features.extract(x, set="logmel", cache=False)
    assert counted["compute"] == 2
