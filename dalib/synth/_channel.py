"""Signal operations that give each synthetic corpus its own voice quality and channel.

Plain NumPy/SciPy on float waveforms in [-1, 1]; every random draw comes from an
explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft, signal

__all__ = [
    "add_noise",
    "band_limit",
    "colored_noise",
    "resample",
    "reverberate",
    "room_impulse_response",
    "spectral_tilt",
    "tremor",
]


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling from ``rate_in`` to ``rate_out`` Hz."""
    if rate_in == rate_out:
        return x
    g = math.gcd(int(rate_in), int(rate_out))
    return signal.resample_poly(x, rate_out // g, rate_in // g).astype(x.dtype, copy=False)


def band_limit(
    x: np.ndarray, rate: int, low_hz: float | None, high_hz: float | None, *, order: int = 4
) -> np.ndarray:
    """Butterworth high-pass at ``low_hz`` and/or low-pass at ``high_hz`` (causal)."""
    nyq = rate / 2
    if low_hz and high_hz and high_hz < nyq:
        sos = signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=rate, output="sos")
    elif low_hz:
        sos = signal.butter(order, low_hz, btype="highpass", fs=rate, output="sos")
    elif high_hz and high_hz < nyq:
        sos = signal.butter(order, high_hz, btype="lowpass", fs=rate, output="sos")
    else:
        return x
    return signal.sosfilt(sos, x).astype(x.dtype, copy=False)


def spectral_tilt(
    x: np.ndarray, rate: int, db_per_octave: float, *, pivot_hz: float = 1000.0, limit_db=12.0
) -> np.ndarray:
    """Tilt the spectrum by ``db_per_octave`` around ``pivot_hz`` (vocal effort).

    Positive values brighten (more energy at high frequencies, as in loud,
    tense speech), negative values darken (soft, lax speech). The gain is
    clipped to ``±limit_db``.
    """
    if db_per_octave == 0.0 or x.size == 0:
        return x
    n = fft.next_fast_len(x.size, real=True)  # zero padding: no wrap-around, fast sizes
    spec = fft.rfft(x, n)
    freqs = fft.rfftfreq(n, 1.0 / rate)
    octaves = np.log2(np.maximum(freqs, 50.0) / pivot_hz)
    gain_db = np.clip(db_per_octave * octaves, -limit_db, limit_db)
    return fft.irfft(spec * 10.0 ** (gain_db / 20.0), n)[: x.size].astype(x.dtype, copy=False)


def tremor(x: np.ndarray, rate: int, depth: float, *, freq_hz: float = 6.0) -> np.ndarray:
    """Modulate pitch (and tempo) by ``±depth`` at ``freq_hz`` through a time warp.

    Reading the signal at the instantaneous speed ``1 + depth·sin(2π f t)``
    scales every frequency by the same factor, the vocal tremor heard in fear.
    """
    if depth == 0.0 or x.size == 0:
        return x
    t = np.arange(x.size) / rate
    w = 2.0 * np.pi * freq_hz
    warped = t + depth * (1.0 - np.cos(w * t)) / w  # integral of the speed
    warped = np.clip(warped * rate, 0, x.size - 1)
    return np.interp(warped, np.arange(x.size), x).astype(x.dtype, copy=False)


def room_impulse_response(
    rate: int, rt60: float, rng: np.random.Generator, *, predelay_ms: float = 2.0
) -> np.ndarray:
    """A synthetic room: a direct path followed by exponentially decaying noise.

    The tail is Gaussian noise under an envelope that falls by 60 dB in ``rt60``
    seconds, low-passed slightly (air absorption). The direct path is 1 and the
    tail is scaled so that its energy equals the direct path's at ``rt60 = 0.5``
    (more reverberant rooms have more tail energy).
    """
    n = max(int(rt60 * rate), 1)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / max(rt60, 1e-3))
    tail = signal.lfilter([0.6], [1.0, -0.4], tail)
    tail *= math.sqrt(rt60 / 0.5) / max(np.sqrt(np.sum(tail**2)), 1e-12)
    start = int(predelay_ms * 1e-3 * rate) + 1
    ir = np.zeros(start + n)
    ir[0] = 1.0
    ir[start:] = tail
    return ir


def reverberate(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve with an impulse response; the output keeps the reverberant tail."""
    return signal.fftconvolve(x, ir).astype(x.dtype, copy=False)


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power falls as ``1/f^α``: white 0, pink 1, brown 2."""
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[color]
    size = fft.next_fast_len(n, real=True)
    white = rng.standard_normal(size)
    if alpha:
        spec = fft.rfft(white)
        f = fft.rfftfreq(size)
        f[0] = f[1] if size > 1 else 1.0
        white = fft.irfft(spec / f ** (alpha / 2.0), size)
    white = white[:n]
    return white / max(float(np.sqrt(np.mean(white**2))), 1e-12)


def add_noise(
    x: np.ndarray,
    rate: int,
    level_dbfs: float,
    rng: np.random.Generator,
    *,
    color: str = "white",
    hum_hz: float | None = None,
) -> np.ndarray:
    """Add a constant noise floor of RMS ``level_dbfs`` (and optional mains hum).

    The floor does not follow the speech level, so loud utterances have a
    higher signal-to-noise ratio than soft ones, as in a real recording.
    """
    noise = colored_noise(x.size, color, rng) * 10.0 ** (level_dbfs / 20.0)
    if hum_hz:
        t = np.arange(x.size) / rate
        phase = rng.uniform(0, 2 * np.pi)
        hum = sum(np.sin(2 * np.pi * k * hum_hz * t + k * phase) / k for k in (1, 2, 3))
        noise = noise + 0.5 * 10.0 ** (level_dbfs / 20.0) * hum
    return (x + noise).astype(x.dtype, copy=False)
