"""Log-mel spectrogram in JAX against librosa and a plain NumPy STFT."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dalib import features
from dalib.features import _extract

librosa = pytest.importorskip("librosa")

RATE = 16000


def _signal(seed=0, n=3001):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    return 0.3 * np.sin(2 * np.pi * 310 * t) + 0.05 * rng.standard_normal(n)


CONFIGS = [
    dict(n_fft=512, hop_length=160, win_length=400, n_mels=64, fmin=0.0, fmax=None),
    dict(n_fft=1024, hop_length=256, win_length=None, n_mels=40, fmin=50.0, fmax=7000.0),
    dict(n_fft=256, hop_length=100, win_length=200, n_mels=24, fmin=20.0, fmax=4000.0),
]


@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("config", CONFIGS)
def test_melspectrogram_matches_librosa(config, htk):
    x = _signal()
    ref = librosa.feature.melspectrogram(
        y=x, sr=RATE, htk=htk, center=True, pad_mode="constant", power=2.0, **config
    ).T
    got = np.asarray(features.melspectrogram(x, RATE, htk=htk, **config))
    assert got.shape == ref.shape
    # librosa builds its filters in float32: agreement to ~1e-7 of the peak.
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * ref.max())
    np.testing.assert_allclose(
        np.asarray(features.logmel(x, RATE, htk=htk, log_offset=1e-6, **config)),
        np.log(ref + 1e-6),
        atol=1e-4,
    )


@pytest.mark.parametrize("norm", ["slaney", None])
def test_filterbank_matches_librosa(norm):
    ours = features.mel_filterbank(sample_rate=RATE, n_fft=512, n_mels=40, fmin=30.0, norm=norm)
    ref = librosa.filters.mel(sr=RATE, n_fft=512, n_mels=40, fmin=30.0, norm=norm, dtype=np.float64)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_mel_scales_match_librosa():
    f = np.array([0.0, 200.0, 999.0, 1000.0, 4321.0, 8000.0])
    for htk in (False, True):
        np.testing.assert_allclose(features.hz_to_mel(f, htk=htk), librosa.hz_to_mel(f, htk=htk))
        np.testing.assert_allclose(features.mel_to_hz(features.hz_to_mel(f, htk=htk), htk=htk), f)


def test_against_plain_numpy_stft_reflect_padding():
    x = _signal(1, 2000)
    n_fft, hop = 256, 128
    padded = np.pad(x, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    fb = features.mel_filterbank(sample_rate=RATE, n_fft=n_fft, n_mels=20)
    rows = []
    for start in range(0, len(padded) - n_fft + 1, hop):
        frame = padded[start : start + n_fft] * window
        power = np.abs(np.fft.rfft(frame)) ** 2
        rows.append(fb @ power)
    got = features.melspectrogram(
        x, RATE, n_fft=n_fft, hop_length=hop, n_mels=20, pad_mode="reflect"
    )
    np.testing.assert_allclose(np.asarray(got), np.array(rows), rtol=1e-9, atol=1e-12)


def test_batch_jit_and_magnitude():
    x = np.stack([_signal(0), _signal(1)])
    single = [np.asarray(features.logmel(row, RATE)) for row in x]
    batched = np.asarray(features.logmel(x, RATE))
    jitted = jax.jit(features.logmel, static_argnums=1)(jnp.asarray(x), RATE)
    np.testing.assert_allclose(batched, np.stack(single), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jitted), batched, rtol=1e-10, atol=1e-10)
    mag = features.melspectrogram(x[0], RATE, power=1.0)
    ref = librosa.feature.melspectrogram(
        y=x[0], sr=RATE, n_fft=512, hop_length=160, n_mels=64, power=1.0, pad_mode="constant"
    ).T
    np.testing.assert_allclose(np.asarray(mag), ref, rtol=1e-5, atol=1e-6 * ref.max())


def test_pooled_summary_ignores_bucket_padding():
    x = _signal(2, 5123).astype(np.float32)
    options = _extract._logmel_options(None)
    pooled = _extract._logmel_summary(x, RATE, options)
    frames = np.asarray(features.logmel(x, RATE), np.float64)
    expected = np.concatenate([frames.mean(0), frames.std(0)])
    assert pooled.shape == (128,)
    np.testing.assert_allclose(pooled, expected, rtol=1e-4, atol=1e-4)
    out = features.extract(x, set="logmel", cache=False)
    assert out.names[64] == "logmel_std_00"
    np.testing.assert_array_equal(out.values[0], pooled)


def test_bad_options():
    with pytest.raises(ValueError, match="fmin < fmax"):
        features.mel_filterbank(sample_rate=RATE, n_fft=512, fmax=9000.0)
    with pytest.raises(ValueError, match="needs at least"):
        features.melspectrogram(np.zeros(100), RATE, center=False)
    with pytest.raises(TypeError, match="`signal` must hold floating-point"):
        features.logmel(np.zeros(1000, np.int16), RATE)
    with pytest.raises(ValueError, match="unknown log-mel option"):
        features.extract(np.zeros(RATE, np.float32), set="logmel", logmel_options={"nmels": 3})
