r"""Mel filterbanks and (log-)mel spectrograms in JAX.

The STFT is computed by framing the signal with a gather and taking
``jnp.fft.rfft`` of Hann-windowed frames, so everything ``jit``s, ``vmap``s and
differentiates. Conventions follow librosa (``center=True`` with zero padding,
periodic Hann window, Slaney-style filter normalisation) so that
:func:`melspectrogram` reproduces ``librosa.feature.melspectrogram``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks

__all__ = ["hz_to_mel", "logmel", "mel_filterbank", "mel_to_hz", "melspectrogram"]

# Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(freq: ArrayLike, *, htk: bool = False) -> np.ndarray:
    r"""Converts frequencies in Hz to mels.

    .. math::

        m_\text{HTK}(f) = 2595 \log_{10}(1 + f / 700), \qquad
        m_\text{Slaney}(f) = \begin{cases} 3f/200 & f < 1000 \\
        15 + 27 \ln(f/1000) / \ln 6.4 & f \ge 1000 \end{cases}

    Args:
      freq: frequencies in Hz, any shape.
      htk: the HTK formula instead of Slaney's.

    Returns:
      Mels, same shape, float64 NumPy array.

    Examples:
      >>> round(float(hz_to_mel(1000.0)), 6), round(float(hz_to_mel(1000.0, htk=True)), 2)
      (15.0, 999.99)

    References:
      Slaney, "Auditory Toolbox", Interval Research Technical Report 1998-010.
    """
    f = np.asarray(freq, np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _F_SP
    logpart = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(f >= _MIN_LOG_HZ, logpart, linear)


def mel_to_hz(mel: ArrayLike, *, htk: bool = False) -> np.ndarray:
    r"""Converts mels to Hz, the inverse of :func:`hz_to_mel`.

    .. math::

        f_\text{HTK}(m) = 700 (10^{m/2595} - 1)

    Args:
      mel: mels, any shape.
      htk: the HTK formula instead of Slaney's.

    Returns:
      Frequencies in Hz, same shape, float64 NumPy array.

    Examples:
      >>> round(float(mel_to_hz(hz_to_mel(4321.0))), 6)
      4321.0
    """
    m = np.asarray(mel, np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = _F_SP * m
    logpart = _MIN_LOG_HZ * np.exp(_LOG_STEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, logpart, linear)


def mel_filterbank(
    *,
    sample_rate: int,
    n_fft: int,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    r"""Triangular mel filters ``[n_mels, n_fft // 2 + 1]``.

    ``n_mels + 2`` edge frequencies :math:`f_0 < \dots < f_{M+1}` are spaced
    evenly on the mel scale between ``fmin`` and ``fmax``; filter :math:`i`
    rises linearly from :math:`f_i` to :math:`f_{i+1}` and falls to
    :math:`f_{i+2}`, evaluated at the FFT bin frequencies :math:`k\,s/n_\text{fft}`:

    .. math::

        W_{ik} = \max\Big(0, \min\Big(\frac{f_k - f_i}{f_{i+1} - f_i},
        \frac{f_{i+2} - f_k}{f_{i+2} - f_{i+1}}\Big)\Big).

    With ``norm="slaney"`` each filter is scaled by :math:`2 / (f_{i+2} - f_i)`
    (constant energy per filter); ``norm=None`` keeps peak height 1.

    Args:
      sample_rate: in Hz.
      n_fft: FFT size.
      n_mels: number of filters.
      fmin: lowest edge in Hz.
      fmax: highest edge in Hz; ``None`` for ``sample_rate / 2``.
      htk: HTK mel formula instead of Slaney's.
      norm: ``"slaney"`` or ``None``.

    Returns:
      ``[n_mels, n_fft // 2 + 1]`` float64 NumPy array (a constant, built once).

    Examples:
      >>> fb = mel_filterbank(sample_rate=16000, n_fft=512, n_mels=40)
      >>> fb.shape, bool((fb >= 0).all())
      ((40, 257), True)

    References:
      Slaney, "Auditory Toolbox", Interval Research Technical Report 1998-010.
    """
    if fmax is None:
        fmax = sample_rate / 2.0
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0:
        raise ValueError(
            f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={fmin}, fmax={fmax}, "
            f"sample_rate={sample_rate}."
        )
    if norm not in ("slaney", None):
        raise ValueError(f"`norm` must be 'slaney' or None, got {norm!r}.")
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(
        np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2), htk=htk
    )
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= 2.0 / (upper - lower)
    return weights


def _hann(win_length: int, n_fft: int) -> np.ndarray:
    n = np.arange(win_length)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)  # periodic
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left))


def melspectrogram(
    signal: ArrayLike,
    sample_rate: int,
    *,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = None,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
) -> jax.Array:
    r"""Mel spectrogram ``[..., frames, n_mels]`` of signals ``[..., T]``.

    Frames :math:`x_t[n] = x[t h + n]` (after padding ``n_fft // 2`` on both
    sides when ``center``) are multiplied by a periodic Hann window :math:`w` of
    length ``win_length`` (zero-padded to ``n_fft``) and transformed:

    .. math::

        S_{t,i} = \sum_k W_{ik}\, \Big|\sum_n w[n]\, x_t[n]\, e^{-2\pi i k n / n_\text{fft}}\Big|^p

    with :math:`W` from :func:`mel_filterbank` and :math:`p` = ``power``.

    Args:
      signal: ``[..., T]`` float samples; leading axes are batch axes.
      sample_rate: in Hz (static).
      n_fft: FFT size.
      hop_length: frame step in samples (160 = 10 ms at 16 kHz).
      win_length: window length, ``<= n_fft``; ``None`` for ``n_fft``.
      n_mels: number of mel filters.
      fmin: lowest filter edge in Hz.
      fmax: highest filter edge in Hz; ``None`` for ``sample_rate / 2``.
      htk: HTK mel formula instead of Slaney's.
      norm: filter normalisation, ``"slaney"`` or ``None``.
      center: pad so that frame ``t`` is centred on sample ``t * hop_length``.
      pad_mode: ``"constant"`` (zeros, librosa's default) or ``"reflect"``.
      power: exponent of the magnitude (2 for power, 1 for magnitude).

    Returns:
      ``[..., 1 + (T_padded - n_fft) // hop_length, n_mels]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> melspectrogram(jnp.zeros((2, 16000)), 16000).shape
      (2, 101, 64)

    References:
      McFee et al., "librosa: Audio and Music Signal Analysis in Python", SciPy 2015.
    """
    x = _checks.as_float(signal, "signal")
    if x.ndim < 1:
        raise ValueError(f"`signal` must be [..., T], got shape {x.shape}.")
    win_length = n_fft if win_length is None else win_length
    if not 0 < win_length <= n_fft or hop_length <= 0:
        raise ValueError(
            f"need 0 < win_length <= n_fft and hop_length > 0, got win_length={win_length}, "
            f"n_fft={n_fft}, hop_length={hop_length}."
        )
    if center:
        if pad_mode not in ("constant", "reflect"):
            raise ValueError(f"`pad_mode` must be 'constant' or 'reflect', got {pad_mode!r}.")
        widths = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        x = jnp.pad(x, widths, mode=pad_mode)
    length = x.shape[-1]
    if length < n_fft:
        raise ValueError(
            f"`signal` has {length} samples after padding (shape {np.shape(signal)}); "
            f"n_fft={n_fft} needs at least that many."
        )
    n_frames = 1 + (length - n_fft) // hop_length
    index = np.arange(n_frames)[:, None] * hop_length + np.arange(n_fft)[None, :]
    frames = x[..., index] * jnp.asarray(_hann(win_length, n_fft), x.dtype)
    spectrum = jnp.fft.rfft(frames, axis=-1)
    magnitude = jnp.real(spectrum) ** 2 + jnp.imag(spectrum) ** 2
    if power != 2.0:
        magnitude = magnitude ** (power / 2.0)
    fb = mel_filterbank(
        sample_rate=sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=norm,
    )
    return magnitude @ jnp.asarray(fb.T, x.dtype)


def logmel(
    signal: ArrayLike,
    sample_rate: int,
    *,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int | None = 400,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    center: bool = True,
    pad_mode: str = "constant",
    log_offset: float = 1e-6,
) -> jax.Array:
    r"""Log-mel spectrogram ``[..., frames, n_mels]`` of signals ``[..., T]``.

    .. math::

        L_{t,i} = \ln(S_{t,i} + \epsilon)

    with :math:`S` the power mel spectrogram of :func:`melspectrogram` and
    :math:`\epsilon` = ``log_offset``. Defaults: 25 ms Hann window, 10 ms hop,
    512-point FFT, 64 Slaney mel bands from 0 Hz to Nyquist (at 16 kHz). All
    options are static under ``jit`` (use ``static_argnames``); the signal length
    fixes the number of frames.

    Args:
      signal: ``[..., T]`` float samples.
      sample_rate: in Hz.
      n_fft: FFT size.
      hop_length: frame step in samples.
      win_length: Hann window length, ``<= n_fft``; ``None`` for ``n_fft``.
      n_mels: number of mel bands.
      fmin: lowest band edge in Hz.
      fmax: highest band edge in Hz; ``None`` for ``sample_rate / 2``.
      htk: HTK mel formula instead of Slaney's.
      norm: filter normalisation, ``"slaney"`` or ``None``.
      center: centre frames on ``t * hop_length`` (pad ``n_fft // 2`` each side).
      pad_mode: ``"constant"`` or ``"reflect"``.
      log_offset: :math:`\epsilon`, keeps the log finite on silence.

    Returns:
      ``[..., frames, n_mels]`` natural-log mel energies.

    Examples:
      >>> import jax.numpy as jnp
      >>> t = jnp.arange(1600) / 16000
      >>> out = logmel(jnp.sin(2 * jnp.pi * 440.0 * t), 16000, n_mels=40)
      >>> out.shape, int(out.mean(0).argmax())  # 440 Hz lands in a low band
      ((11, 40), 5)

    References:
      McFee et al., "librosa: Audio and Music Signal Analysis in Python", SciPy 2015.
    """
    mel = melspectrogram(
        signal,
        sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=norm,
        center=center,
        pad_mode=pad_mode,
        power=2.0,
    )
    return jnp.log(mel + log_offset)
