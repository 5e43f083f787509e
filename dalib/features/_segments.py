r"""Fixed-length log-mel segments per utterance: the input of the deep SER encoders.

The seed papers of the field feed spectrograms to their encoders rather than
functionals: DIDAN a CNN on spectrograms, the ACM MM 2022 hybrid max-min MI
method a Transformer on log-mel segments (64 mel bands, 25 ms window, 10 ms
hop, fixed-length overlapping segments of about 1-2 s). :func:`logmel_segments`
cuts one utterance into ``num_segments`` segments of ``segment_frames`` frames
at evenly spaced starts, so every utterance becomes one fixed-size tensor
``[segments, frames, mels]`` and a corpus one array ``[N, segments, frames,
mels]``; the encoder pools over the segments of an utterance, and the
experiment layer keeps one row per utterance.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from dalib.features._cache import FeatureCache, array_digest, file_digest
from dalib.features._logmel import logmel

__all__ = ["SEGMENT_DEFAULTS", "extract_logmel_segments", "logmel_segments", "segment_starts"]

#: Segments per utterance and frames per segment (100 frames = 1 s at the 10 ms
#: hop of :data:`dalib.features.LOGMEL_DEFAULTS`).
SEGMENT_DEFAULTS: dict[str, int] = {"num_segments": 4, "segment_frames": 100}


def segment_starts(num_frames: int, num_segments: int, segment_frames: int) -> np.ndarray:
    r"""First frames of ``num_segments`` evenly spaced segments of a ``num_frames`` sequence.

    .. math:: s_k = \operatorname{round}\Big(k\,\frac{\max(T - F, 0)}{S - 1}\Big),
       \qquad k = 0, \dots, S - 1

    for :math:`T` frames, :math:`S` segments of :math:`F` frames (:math:`s_0 = 0`
    when :math:`S = 1`). The first segment starts at the first frame and the last
    ends at the last one, so the segments overlap on utterances shorter than
    :math:`S F` frames and leave gaps on longer ones; a sequence shorter than
    :math:`F` frames gives :math:`S` copies of its (padded) start.

    Args:
      num_frames: :math:`T \ge 1`.
      num_segments: :math:`S \ge 1`.
      segment_frames: :math:`F \ge 1`.

    Returns:
      ``[S]`` int64 start frames.

    Raises:
      ValueError: a count below 1.

    Examples:
      >>> segment_starts(340, 4, 100).tolist()
      [0, 80, 160, 240]
      >>> segment_starts(60, 3, 100).tolist()
      [0, 0, 0]
    """
    for value, name in (
        (num_frames, "num_frames"),
        (num_segments, "num_segments"),
        (segment_frames, "segment_frames"),
    ):
        if int(value) < 1:
            raise ValueError(f"`{name}` must be >= 1, got {value}.")
    span = max(int(num_frames) - int(segment_frames), 0)
    if num_segments == 1:
        return np.zeros(1, np.int64)
    return np.round(np.linspace(0.0, span, int(num_segments))).astype(np.int64)


def _options(logmel_options: Mapping[str, Any] | None) -> dict[str, Any]:
    from dalib.features._extract import LOGMEL_DEFAULTS

    merged = dict(LOGMEL_DEFAULTS)
    for key, value in dict(logmel_options or {}).items():
        if key not in merged:
            raise ValueError(
                f"unknown log-mel option {key!r}; the options are {sorted(LOGMEL_DEFAULTS)}."
            )
        merged[key] = value
    return merged


@functools.partial(jax.jit, static_argnames=("sample_rate", "options"))
def _frames(padded, sample_rate, options):
    return logmel(padded, sample_rate, **dict(options))


def logmel_segments(
    signal: np.ndarray,
    sample_rate: int,
    *,
    num_segments: int = SEGMENT_DEFAULTS["num_segments"],
    segment_frames: int = SEGMENT_DEFAULTS["segment_frames"],
    logmel_options: Mapping[str, Any] | None = None,
) -> np.ndarray:
    r"""The log-mel segments ``[num_segments, segment_frames, n_mels]`` of one utterance.

    The log-mel spectrogram :math:`L \in \mathbb{R}^{T \times M}` of
    :func:`dalib.features.logmel` (:data:`dalib.features.LOGMEL_DEFAULTS`: 64
    bands, 25 ms Hann window, 10 ms hop) is cut at the starts :math:`s_k` of
    :func:`segment_starts`:

    .. math:: X_k = L_{s_k : s_k + F}, \qquad k = 0, \dots, S - 1.

    An utterance shorter than :math:`F` frames is padded at the end with
    :math:`\ln \epsilon` (``log_offset``: the value of digital silence).

    Args:
      signal: ``[T]`` mono float samples in ``[-1, 1]``.
      sample_rate: in Hz.
      num_segments: :math:`S`.
      segment_frames: :math:`F`.
      logmel_options: overrides of :data:`dalib.features.LOGMEL_DEFAULTS`.

    Returns:
      ``[S, F, n_mels]`` float32.

    Raises:
      ValueError: an empty or non-mono signal, non-positive counts, an unknown option.

    Examples:
      >>> import numpy as np
      >>> t = np.arange(24000) / 16000
      >>> x = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
      >>> logmel_segments(x, 16000, num_segments=3, segment_frames=50).shape
      (3, 50, 64)

    References:
      DIDAN (Zhao et al. 2023) and the hybrid max-min MI SER method (ACM MM 2022)
      take spectrogram / log-mel segment inputs (FIELD.md).
    """
    x = np.asarray(signal)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"`signal` must be a non-empty mono signal [T], got shape {x.shape}.")
    num_segments, segment_frames = int(num_segments), int(segment_frames)
    if num_segments < 1 or segment_frames < 1:
        raise ValueError(
            f"`num_segments` and `segment_frames` must be >= 1, got {num_segments} and "
            f"{segment_frames}."
        )
    options = _options(logmel_options)
    if not options["center"]:
        raise ValueError("log-mel segments need centred frames (logmel_options center=True).")
    # Zero-padding to whole seconds bounds the compiled shapes; with centred
    # frames the first 1 + T // hop frames do not depend on it.
    length = x.shape[0]
    valid = 1 + length // int(options["hop_length"])
    padded = np.zeros(max(1, math.ceil(length / sample_rate)) * int(sample_rate), np.float32)
    padded[:length] = x
    frames = np.asarray(
        _frames(padded, sample_rate=int(sample_rate), options=tuple(sorted(options.items())))
    )[:valid]
    if valid < segment_frames:
        fill = np.full(
            (segment_frames - valid, frames.shape[1]), math.log(options["log_offset"]), np.float32
        )
        frames = np.concatenate([frames, fill])
    starts = segment_starts(len(frames), num_segments, segment_frames)
    index = starts[:, None] + np.arange(segment_frames)[None, :]
    return np.ascontiguousarray(frames[index], dtype=np.float32)


def extract_logmel_segments(
    inputs: Sequence[str | os.PathLike[str] | np.ndarray],
    *,
    sample_rate: int = 16000,
    num_segments: int = SEGMENT_DEFAULTS["num_segments"],
    segment_frames: int = SEGMENT_DEFAULTS["segment_frames"],
    logmel_options: Mapping[str, Any] | None = None,
    cache: bool | str | os.PathLike[str] | FeatureCache | None = True,
) -> np.ndarray:
    r""":func:`logmel_segments` of many utterances ``[N, S, F, n_mels]``, cached on disk.

    Files are decoded with :func:`dalib.audio.load_audio` at ``sample_rate``.
    Like :func:`dalib.features.extract`, each utterance's segments are stored in
    a :class:`dalib.features.FeatureCache` (feature set ``"logmel_segments"``)
    under the SHA-256 of the file's bytes (or the signal) and every option that
    changes them, so a second call reads them back without decoding audio.

    Args:
      inputs: paths and/or 1-D float signals.
      sample_rate: in Hz.
      num_segments: :math:`S`.
      segment_frames: :math:`F`.
      logmel_options: overrides of :data:`dalib.features.LOGMEL_DEFAULTS`.
      cache: ``True`` (the default cache), a folder, a ``FeatureCache``, or ``False``.

    Returns:
      ``[N, S, F, n_mels]`` float32.

    Raises:
      dalib.audio.AudioReadError: a missing or undecodable file (named).
      ValueError: no inputs, a bad signal, non-finite values (the utterance is named).

    Examples:
      >>> import numpy as np
      >>> x = np.zeros(8000, np.float32); x[::40] = 0.5
      >>> extract_logmel_segments([x, x], num_segments=2, segment_frames=20, cache=False).shape
      (2, 2, 20, 64)
    """
    from dalib.audio import AudioReadError, load_audio
    from dalib.features._extract import _as_cache, _check_signal

    items = [Path(i) if isinstance(i, str | os.PathLike) else np.asarray(i) for i in inputs]
    if not items:
        raise ValueError("`inputs` is empty: give at least one path or signal.")
    options = _options(logmel_options)
    config = {
        "sample_rate": int(sample_rate),
        "num_segments": int(num_segments),
        "segment_frames": int(segment_frames),
        **options,
    }
    shape = (int(num_segments), int(segment_frames), int(options["n_mels"]))
    store = _as_cache(cache)
    out = np.empty((len(items), *shape), np.float32)
    for i, item in enumerate(items):
        where = str(item) if isinstance(item, Path) else f"signal {i} of `inputs`"
        signal = None
        if isinstance(item, Path):
            if not item.is_file():
                raise AudioReadError(f"audio file {item} does not exist.")
        else:
            signal = _check_signal(item, where)
        key = None
        if store is not None:
            digest = file_digest(item) if signal is None else array_digest(signal, sample_rate)
            key = store.key(digest, "logmel_segments", config)
            hit = store.get(key, "logmel_segments")
            if hit is not None and hit.shape == shape:
                out[i] = hit
                continue
        if signal is None:
            signal = load_audio(item, sample_rate)
        values = logmel_segments(
            signal,
            sample_rate,
            num_segments=num_segments,
            segment_frames=segment_frames,
            logmel_options=options,
        )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"log-mel segments of {where} hold NaN or infinite values.")
        if store is not None:
            store.put(key, "logmel_segments", values)
        out[i] = values
    return out
