"""Tests for dalib.synth._channel: the signal operations behind the corpus channels."""

import numpy as np
import pytest

from dalib.synth import _channel

RATE = 16000


def _tone(freq, seconds=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return np.sin(2 * np.pi * freq * t)


def _rms(x):
    return float(np.sqrt(np.mean(x**2)))


@pytest.mark.parametrize(("rate_in", "rate_out"), [(22050, 16000), (22050, 44100), (16000, 8000)])
def test_resample_length_and_tone(rate_in, rate_out):
    x = _tone(440.0, 1.0, rate_in)
    y = _channel.resample(x, rate_in, rate_out)
    assert abs(y.size - rate_out) <= 1
    # the tone keeps its frequency: the spectrum peaks at 440 Hz
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.fft.rfftfreq(y.size, 1 / rate_out)[np.argmax(spec)] - 440.0) < 2.0


@pytest.mark.parametrize(
    ("low", "high", "passed", "stopped"),
    [(300.0, 3400.0, 1000.0, 6000.0), (300.0, None, 1000.0, 60.0), (None, 2000.0, 500.0, 6000.0)],
)
def test_band_limit_passes_and_stops(low, high, passed, stopped):
    ok = _channel.band_limit(_tone(passed), RATE, low, high)
    cut = _channel.band_limit(_tone(stopped), RATE, low, high)
    tail = slice(RATE // 10, None)  # after the filter's transient
    assert _rms(ok[tail]) > 0.6
    assert _rms(cut[tail]) < 0.05


def test_band_limit_without_corners_is_identity():
    x = _tone(300.0)
    np.testing.assert_array_equal(_channel.band_limit(x, RATE, None, None), x)


@pytest.mark.parametrize("tilt", [-4.0, 4.0])
def test_spectral_tilt_moves_energy(tilt):
    x = _tone(250.0) + _tone(4000.0)
    y = _channel.spectral_tilt(x, RATE, tilt)
    spec_x, spec_y = np.abs(np.fft.rfft(x)), np.abs(np.fft.rfft(y))
    f = np.fft.rfftfreq(x.size, 1 / RATE)
    lo, hi = np.argmin(abs(f - 250)), np.argmin(abs(f - 4000))
    ratio_db = 20 * np.log10((spec_y[hi] / spec_y[lo]) / (spec_x[hi] / spec_x[lo]))
    # 250 Hz is 2 octaves below the 1 kHz pivot, 4 kHz two above: 4 octaves apart
    assert ratio_db == pytest.approx(4 * tilt, abs=0.5)
    assert y.shape == x.shape


def test_tremor_modulates_frequency_and_keeps_length():
    x = _tone(200.0, 1.0)
    y = _channel.tremor(x, RATE, 0.05, freq_hz=5.0)
    assert y.shape == x.shape
    np.testing.assert_array_equal(_channel.tremor(x, RATE, 0.0), x)
    # instantaneous period from zero crossings varies by about ±5 %
    crossings = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0))
    periods = np.diff(crossings) / RATE
    freq = 1 / periods
    assert freq.max() / freq.min() > 1.07
    assert np.std(1 / np.diff(np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0)))) < 1e-3


@pytest.mark.parametrize(("color", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_colored_noise_rms_and_slope(color, slope):
    rng = np.random.default_rng(0)
    n = 2**16
    x = _channel.colored_noise(n, color, rng)
    assert _rms(x) == pytest.approx(1.0, rel=1e-6)
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(n)
    band = (f > 0.001) & (f < 0.4)
    fitted = np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.15)


@pytest.mark.parametrize("hum", [None, 50.0])
def test_add_noise_level(hum):
    rng = np.random.default_rng(1)
    x = np.zeros(RATE)
    y = _channel.add_noise(x, RATE, -40.0, rng, color="pink", hum_hz=hum)
    level = 20 * np.log10(_rms(y))
    assert level == pytest.approx(-40.0, abs=0.2) if hum is None else level > -40.0


def test_room_impulse_response_decays():
    rng = np.random.default_rng(2)
    rt60 = 0.4
    ir = _channel.room_impulse_response(RATE, rt60, rng)
    assert ir[0] == 1.0
    assert ir.size > int(rt60 * RATE)
    tail = ir[1:]
    first, last = tail[: RATE // 20], tail[-RATE // 20 :]
    # 60 dB over rt60: the last 50 ms are far below the first 50 ms
    assert 10 * np.log10(np.sum(last**2) / np.sum(first**2)) < -35.0
    y = _channel.reverberate(_tone(300.0, 0.2), ir)
    assert y.size == int(0.2 * RATE) + ir.size - 1
