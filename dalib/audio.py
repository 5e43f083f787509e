"""Decoding audio files (and the audio track of videos) to mono float32.

Below both :mod:`dalib.data` (corpus readers, TFDS builders) and
:mod:`dalib.features` (openSMILE, log-mel), which both decode audio through it.
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np

__all__ = ["VIDEO_SUFFIXES", "AudioReadError", "load_audio", "resample", "to_int16"]


class AudioReadError(ValueError):
    """An audio (or audio-visual) file could not be decoded; the message names it."""

#: Files decoded through ffmpeg (their audio stream) rather than libsndfile.
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".webm", ".flv", ".mpg", ".mpeg"})


def resample(signal: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``, Kaiser window).

    Args:
      signal: ``[T]`` samples.
      orig_rate: sample rate of ``signal`` in Hz.
      new_rate: wanted sample rate in Hz.

    Returns:
      ``[T * new_rate / orig_rate]`` (rounded up) float32 samples.

    Examples:
      >>> import numpy as np
      >>> resample(np.zeros(48000, np.float32), 48000, 16000).shape
      (16000,)
    """
    if orig_rate == new_rate:
        return np.asarray(signal, np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_rate), int(new_rate))
    out = resample_poly(np.asarray(signal, np.float64), int(new_rate) // g, int(orig_rate) // g)
    return out.astype(np.float32)


def _ffmpeg_decode(path: Path, sample_rate: int) -> np.ndarray:
    try:
        import imageio_ffmpeg
    except ImportError as err:  # pragma: no cover - part of the `ser` extra
        raise ImportError(
            f"decoding {path} needs the ffmpeg binary of `imageio-ffmpeg`; "
            "install it with `pip install dalib-jax[ser]`."
        ) from err
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(int(sample_rate)),
        "-f",
        "f32le",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = "; ".join(message[-3:]) or f"ffmpeg exit status {proc.returncode}"
        raise AudioReadError(f"cannot decode the audio track of {path}: {tail}")
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def load_audio(path: str | os.PathLike[str], sample_rate: int | None = 16000) -> np.ndarray:
    """Reads an audio file, or the first audio track of a video, as mono float32.

    ``.wav`` (and anything libsndfile reads: FLAC, OGG, AIFF, ...) is read with
    ``soundfile``, channels averaged and resampled with :func:`resample`.
    Videos (``.avi``, ``.mp4``, ...) are decoded by the ffmpeg binary that the
    ``imageio-ffmpeg`` wheel ships (mono, resampled by ffmpeg).

    Args:
      path: the file.
      sample_rate: wanted sample rate in Hz; ``None`` keeps a sound file's own
        rate (videos are then decoded at 16 kHz).

    Returns:
      ``[T]`` float32 samples in ``[-1, 1]``.

    Raises:
      AudioReadError: naming the file, if it cannot be decoded, holds no samples
        or holds non-finite samples.

    Examples:
      >>> import pathlib, tempfile
      >>> import numpy as np, soundfile as sf
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
      >>> sf.write(path, np.zeros((4410, 2)), 44100)
      >>> load_audio(path, 16000).shape
      (1600,)
    """
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"audio file {path} does not exist.")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        signal = _ffmpeg_decode(path, sample_rate or 16000)
    else:
        import soundfile as sf

        try:
            data, rate = sf.read(path, dtype="float32", always_2d=True)
        except Exception as err:  # libsndfile raises several error types
            raise AudioReadError(f"cannot read audio file {path}: {err}") from err
        signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        if sample_rate is not None and rate != sample_rate and signal.size:
            signal = resample(signal, rate, sample_rate)
    if signal.size == 0:
        raise AudioReadError(f"audio file {path} holds no samples.")
    if not np.all(np.isfinite(signal)):
        raise AudioReadError(f"audio file {path} holds NaN or infinite samples.")
    return np.ascontiguousarray(signal, dtype=np.float32)


def to_int16(signal: np.ndarray) -> np.ndarray:
    """Float samples in ``[-1, 1]`` -> int16 PCM (scaled by 32768, clipped).

    Examples:
      >>> import numpy as np
      >>> to_int16(np.array([-1.0, 0.0, 0.5, 1.0])).tolist()
      [-32768, 0, 16384, 32767]
    """
    scaled = np.round(np.asarray(signal, np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)
