"""Utterance-level feature vectors: openSMILE functionals and pooled log-mel."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dalib.features._cache import FeatureCache, array_digest, file_digest
from dalib.features._logmel import logmel

__all__ = [
    "FEATURE_SETS",
    "LOGMEL_DEFAULTS",
    "FeatureMatrix",
    "canonical_feature_set",
    "extract",
    "feature_names",
]

#: Feature-set name -> dimension of one utterance's vector (log-mel: with the
#: default 64 bands; it is ``2 * n_mels`` in general).
FEATURE_SETS: dict[str, int] = {
    "is09": 384,
    "is10": 1582,
    "egemaps": 88,
    "compare": 6373,
    "logmel": 128,
}

# name -> (opensmile.FeatureSet member, config path inside the opensmile package)
_OPENSMILE = {
    "is09": ("IS09", "is09-13/IS09_emotion"),
    "is10": ("IS10", "is09-13/IS10_paraling_compat"),
    "egemaps": ("eGeMAPSv02", "egemaps/v02/eGeMAPSv02"),
    "compare": ("ComParE_2016", "compare/ComParE_2016"),
}
_ALIASES = {
    "is09emotion": "is09",
    "is10paraling": "is10",
    "is10paralingcompat": "is10",
    "egemapsv02": "egemaps",
    "compare2016": "compare",
    "mel": "logmel",
}

#: Options of the pooled log-mel summary (see :func:`dalib.features.logmel`);
#: ``extract(..., logmel_options={...})`` overrides them.
LOGMEL_DEFAULTS: dict[str, Any] = {
    "n_fft": 512,
    "hop_length": 160,
    "win_length": 400,
    "n_mels": 64,
    "fmin": 0.0,
    "fmax": None,
    "htk": False,
    "norm": "slaney",
    "center": True,
    "log_offset": 1e-6,
}


class FeatureMatrix(NamedTuple):
    """Features of ``N`` utterances: ``values [N, D]`` float32 and ``D`` names."""

    values: np.ndarray
    names: tuple[str, ...]


def canonical_feature_set(name: str) -> str:
    """``"IS09_emotion"``, ``"eGeMAPSv02"``, ``"log-mel"`` ... -> a key of :data:`FEATURE_SETS`.

    Examples:
      >>> canonical_feature_set("ComParE_2016"), canonical_feature_set("IS10")
      ('compare', 'is10')
    """
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    key = _ALIASES.get(key, key)
    if key not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}; choose one of {', '.join(FEATURE_SETS)}.")
    return key


@functools.cache
def _smile(name: str):
    try:
        import opensmile
    except ImportError as err:  # pragma: no cover - part of the `ser` extra
        raise ImportError(
            f"feature set {name!r} needs openSMILE; install it with `pip install dalib-jax[ser]`."
        ) from err
    member, conf = _OPENSMILE[name]
    feature_set = getattr(opensmile.FeatureSet, member, None)
    if feature_set is None:  # older wheels: point at the config file they ship
        feature_set = str(Path(opensmile.__file__).parent / "core" / "config" / f"{conf}.conf")
    return opensmile.Smile(
        feature_set=feature_set, feature_level=opensmile.FeatureLevel.Functionals
    )


def _logmel_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(LOGMEL_DEFAULTS)
    unknown = set(options or {}) - set(merged)
    if unknown:
        raise ValueError(f"unknown log-mel option(s) {sorted(unknown)}; valid: {sorted(merged)}.")
    merged.update(options or {})
    return merged


def feature_names(
    set: str = "is09", *, logmel_options: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """Names of the columns :func:`extract` returns for a feature set.

    Log-mel columns are ``logmel_mean_00`` ... then ``logmel_std_00`` ...

    Examples:
      >>> len(feature_names("egemaps")), feature_names("logmel")[:2]
      (88, ('logmel_mean_00', 'logmel_mean_01'))
    """
    name = canonical_feature_set(set)
    if name == "logmel":
        n_mels = _logmel_options(logmel_options)["n_mels"]
        return tuple(f"logmel_{stat}_{i:02d}" for stat in ("mean", "std") for i in range(n_mels))
    return tuple(_smile(name).feature_names)


@functools.partial(jax.jit, static_argnames=("sample_rate", "options"))
def _pooled_logmel(padded, n_valid, sample_rate, options):
    frames = logmel(padded, sample_rate, **dict(options))
    mask = (jnp.arange(frames.shape[0]) < n_valid)[:, None]
    mean = jnp.sum(jnp.where(mask, frames, 0.0), axis=0) / n_valid
    var = jnp.sum(jnp.where(mask, (frames - mean) ** 2, 0.0), axis=0) / n_valid
    return jnp.concatenate([mean, jnp.sqrt(var)])


def _logmel_summary(signal: np.ndarray, sample_rate: int, options: dict[str, Any]) -> np.ndarray:
    # Zero-padding to whole seconds bounds the number of compiled shapes; with
    # center=True the first 1 + T // hop frames are unchanged by it (they only
    # ever see the zeros that centering adds anyway), and only those are pooled.
    length = signal.shape[0]
    n_fft, hop = options["n_fft"], options["hop_length"]
    if options["center"]:
        n_valid = 1 + length // hop
    else:
        if length < n_fft:
            raise ValueError(f"signal of {length} samples is shorter than n_fft={n_fft}.")
        n_valid = 1 + (length - n_fft) // hop
    padded_length = max(1, math.ceil(length / sample_rate)) * sample_rate
    padded = np.zeros(padded_length, np.float32)
    padded[:length] = signal
    out = _pooled_logmel(
        jnp.asarray(padded),
        n_valid,
        sample_rate=sample_rate,
        options=tuple(sorted(options.items())),
    )
    return np.asarray(out, np.float32)


def _compute_one(
    signal: np.ndarray, sample_rate: int, name: str, options: dict[str, Any]
) -> np.ndarray:
    """Feature vector ``[D]`` of one mono float32 signal (the expensive step)."""
    if name == "logmel":
        return _logmel_summary(signal, sample_rate, options)
    frame = _smile(name).process_signal(signal, sample_rate)
    return frame.to_numpy(dtype=np.float32).reshape(-1)


def _items(inputs) -> list[Path | np.ndarray]:
    if isinstance(inputs, (str, os.PathLike)):
        return [Path(inputs)]
    if isinstance(inputs, np.ndarray | jax.Array):
        arr = np.asarray(inputs)
        if arr.ndim == 1:
            return [arr]
        if arr.ndim == 2:
            return list(arr)
        raise ValueError(
            f"`inputs` as an array must be one signal [T] or signals [N, T], got shape {arr.shape}."
        )
    if not isinstance(inputs, Sequence):
        raise TypeError(
            f"`inputs` must be paths or signals (a list of them), got {type(inputs).__name__}."
        )
    return [Path(x) if isinstance(x, (str, os.PathLike)) else np.asarray(x) for x in inputs]


def _check_signal(signal: np.ndarray, where: str) -> np.ndarray:
    if not np.issubdtype(signal.dtype, np.floating):
        raise TypeError(
            f"{where} must hold float samples in [-1, 1], got dtype {signal.dtype} with shape "
            f"{signal.shape}; for int16 PCM use `x / 32768.0`."
        )
    if signal.ndim != 1 or signal.size == 0:
        raise ValueError(f"{where} must be a non-empty mono signal [T], got shape {signal.shape}.")
    if not np.all(np.isfinite(signal)):
        raise ValueError(f"{where} holds NaN or infinite samples.")
    return np.ascontiguousarray(signal, dtype=np.float32)


def _as_cache(cache) -> FeatureCache | None:
    if cache is False or cache is None:
        return None
    if cache is True:
        return FeatureCache()
    if isinstance(cache, FeatureCache):
        return cache
    return FeatureCache(cache)


def extract(
    inputs: str | os.PathLike[str] | np.ndarray | Sequence[str | os.PathLike[str] | np.ndarray],
    *,
    set: str = "is09",
    sample_rate: int = 16000,
    cache: bool | str | os.PathLike[str] | FeatureCache | None = True,
    logmel_options: Mapping[str, Any] | None = None,
) -> FeatureMatrix:
    r"""One feature vector per utterance: openSMILE functionals or pooled log-mel.

    Feature sets (``set``):

    * ``"is09"``: INTERSPEECH 2009 Emotion Challenge, 384 functionals
      (openSMILE ``IS09_emotion``);
    * ``"is10"``: INTERSPEECH 2010 Paralinguistic Challenge, 1582
      (``IS10_paraling_compat``);
    * ``"egemaps"``: eGeMAPS v02, 88;
    * ``"compare"``: ComParE 2016, 6373;
    * ``"logmel"``: the log-mel spectrogram of :func:`~dalib.features.logmel`
      (:data:`LOGMEL_DEFAULTS`) pooled over time, per band mean then standard
      deviation, :math:`2 \cdot 64 = 128` values. Deep models that need the
      frame sequence call :func:`~dalib.features.logmel` on the audio instead.

    Files are decoded with :func:`dalib.audio.load_audio` (videos through
    ffmpeg) at ``sample_rate``; signals are taken to be at ``sample_rate``.
    With a cache, each result is stored under the SHA-256 of the file's bytes
    (or of the signal) plus the feature set and every option that changes it;
    a hit reads the vector back without decoding or computing anything.

    Args:
      inputs: a path, a list of paths, a signal ``[T]``, signals ``[N, T]``, or a
        list mixing paths and 1-D signals (float samples in ``[-1, 1]``).
      set: feature set, one of :data:`FEATURE_SETS` (aliases such as
        ``"IS09_emotion"``, ``"eGeMAPSv02"``, ``"ComParE_2016"`` work).
      sample_rate: rate in Hz at which files are decoded and signals are given.
      cache: ``True`` for the default :class:`FeatureCache` (``$DALIB_CACHE`` or
        ``~/.cache/dalib``), a folder, a :class:`FeatureCache`, or ``False``.
      logmel_options: overrides of :data:`LOGMEL_DEFAULTS` (``set="logmel"`` only).

    Returns:
      :class:`FeatureMatrix` ``(values [N, D] float32, names [D])``.

    Raises:
      dalib.audio.AudioReadError: a file is missing or cannot be decoded (named).
      ValueError: unknown feature set, bad signal, or non-finite features (named).

    Examples:
      >>> import numpy as np
      >>> t = np.arange(16000) / 16000
      >>> voice = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
      >>> out = extract(voice, set="egemaps", cache=False)
      >>> out.values.shape, out.names[0]
      ((1, 88), 'F0semitoneFrom27.5Hz_sma3nz_amean')

    References:
      Schuller et al., "The INTERSPEECH 2009 Emotion Challenge", Interspeech 2009.
      Schuller et al., "The INTERSPEECH 2010 Paralinguistic Challenge", Interspeech 2010.
      Eyben et al., "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS)",
      IEEE Trans. Affective Computing 2016.
      Eyben et al., "openSMILE: the Munich versatile and fast open-source audio
      feature extractor", ACM Multimedia 2010.
    """
    from dalib.audio import AudioReadError, load_audio

    name = canonical_feature_set(set)
    if name != "logmel" and logmel_options:
        raise ValueError(f"`logmel_options` apply to set='logmel' only, got set={set!r}.")
    options = _logmel_options(logmel_options) if name == "logmel" else {}
    names = feature_names(name, logmel_options=logmel_options)
    config: dict[str, Any] = {"sample_rate": int(sample_rate)}
    if name == "logmel":
        config.update(options, pooling="mean_std")
    else:
        import opensmile

        config.update(opensmile=opensmile.__version__, level="functionals")
    store = _as_cache(cache)
    items = _items(inputs)
    values = np.empty((len(items), len(names)), np.float32)
    for i, item in enumerate(items):
        where = str(item) if isinstance(item, Path) else f"signal {i} of `inputs`"
        if isinstance(item, Path):
            if not item.is_file():
                raise AudioReadError(f"audio file {item} does not exist.")
            signal = None
        else:
            signal = _check_signal(item, where)
        key = None
        if store is not None:
            digest = file_digest(item) if signal is None else array_digest(signal, sample_rate)
            key = store.key(digest, name, config)
            hit = store.get(key, name)
            if hit is not None and hit.shape == (len(names),):
                values[i] = hit
                continue
        if signal is None:
            signal = load_audio(item, sample_rate)
        try:
            vector = _compute_one(signal, sample_rate, name, options)
        except Exception as err:
            raise ValueError(f"{name} features failed for {where}: {err}") from err
        if vector.shape != (len(names),) or not np.all(np.isfinite(vector)):
            raise ValueError(
                f"{name} features of {where} ({signal.size} samples) are not "
                f"{len(names)} finite values; is the audio long enough?"
            )
        if store is not None:
            store.put(key, name, vector)
        values[i] = vector
    return FeatureMatrix(values, names)
