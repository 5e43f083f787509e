"""A disk cache of per-utterance feature vectors, keyed by content and config."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FeatureCache", "array_digest", "default_cache_dir", "file_digest"]

_FORMAT = 1  # bump when the stored layout or a feature computation changes


def default_cache_dir() -> Path:
    """``$DALIB_CACHE`` if set, else ``~/.cache/dalib``.

    Examples:
      >>> import os
      >>> saved = os.environ.get("DALIB_CACHE")
      >>> os.environ["DALIB_CACHE"] = "/tmp/dalib-cache"
      >>> str(default_cache_dir())
      '/tmp/dalib-cache'
      >>> _ = os.environ.pop("DALIB_CACHE")
      >>> if saved is not None:
      ...     os.environ["DALIB_CACHE"] = saved
    """
    return Path(os.environ.get("DALIB_CACHE") or "~/.cache/dalib").expanduser()


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex): the same audio under any name hits the cache."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def array_digest(signal: np.ndarray, sample_rate: int) -> str:
    """SHA-256 (hex) of a signal's float32 samples and its sample rate."""
    samples = np.ascontiguousarray(signal, dtype="<f4")
    digest = hashlib.sha256(f"signal:{int(sample_rate)}:{samples.shape}:".encode())
    digest.update(samples.tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Feature vectors on disk, one ``.npz`` per (content, feature set, config).

    The key hashes the content digest (:func:`file_digest` of the audio file or
    :func:`array_digest` of a signal), the feature-set name and every option
    that changes the values (sample rate, openSMILE version, log-mel settings),
    so a changed option never returns stale features. Files live in
    ``<directory>/features/<set>/<key[:2]>/<key>.npz`` and are written
    atomically, so concurrent processes can share one cache.

    Args:
      directory: cache root; ``None`` for :func:`default_cache_dir`
        (``$DALIB_CACHE`` or ``~/.cache/dalib``).

    Attributes:
      hits: lookups answered from disk since creation.
      misses: lookups that found nothing.

    Examples:
      >>> import tempfile
      >>> import numpy as np
      >>> cache = FeatureCache(tempfile.mkdtemp())
      >>> key = cache.key("0" * 64, "is09", {"sample_rate": 16000})
      >>> cache.get(key, "is09") is None
      True
      >>> cache.put(key, "is09", np.arange(3, dtype=np.float32))
      >>> cache.get(key, "is09").tolist(), cache.hits, cache.misses
      ([0.0, 1.0, 2.0], 1, 1)
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self.directory = (
            Path(directory).expanduser() if directory is not None else default_cache_dir()
        )
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.directory)!r})"

    @staticmethod
    def key(content_digest: str, feature_set: str, config: Mapping[str, Any]) -> str:
        """Hex key of one utterance under one feature configuration."""
        payload = json.dumps(
            {
                "content": content_digest,
                "set": feature_set,
                "config": dict(config),
                "format": _FORMAT,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def _path(self, key: str, feature_set: str) -> Path:
        return self.directory / "features" / feature_set / key[:2] / f"{key}.npz"

    def get(self, key: str, feature_set: str) -> np.ndarray | None:
        """The stored vector, or ``None`` (a miss) if absent or unreadable."""
        path = self._path(key, feature_set)
        try:
            with np.load(path, allow_pickle=False) as data:
                values = data["values"]
        except (OSError, KeyError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return values

    def put(self, key: str, feature_set: str, values: np.ndarray) -> None:
        """Stores ``values`` under ``key`` (atomic rename, last writer wins)."""
        path = self._path(key, feature_set)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, values=np.asarray(values))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
