"""Features: openSMILE functionals, log-mel and LBP-TOP in JAX, normalisation, a disk cache.

``extract(paths_or_signals, set="is09" | "is10" | "egemaps" | "compare" | "logmel")``
returns one vector per utterance (``[N, D]`` and the ``D`` names), cached on
disk by content; :func:`logmel` is the frame-level log-mel spectrogram for deep
models and :func:`extract_logmel_segments` its fixed-length segments per
utterance (cached like the tables); :func:`zscore` / :class:`Normalizer`
normalise per corpus or speaker.
"""

from dalib.features._cache import FeatureCache, array_digest, default_cache_dir, file_digest
from dalib.features._extract import (
    FEATURE_SETS,
    LOGMEL_DEFAULTS,
    FeatureMatrix,
    canonical_feature_set,
    extract,
    feature_names,
)
from dalib.features._groups import lld_groups
from dalib.features._lbp import lbp, lbp_histogram, nri_uniform_bins, nri_uniform_table
from dalib.features._lbp_top import block_grid_positions, block_groups, lbp_sip, lbp_top
from dalib.features._logmel import hz_to_mel, logmel, mel_filterbank, mel_to_hz, melspectrogram
from dalib.features._normalize import Normalizer, zscore
from dalib.features._segments import (
    SEGMENT_DEFAULTS,
    extract_logmel_segments,
    logmel_segments,
    segment_starts,
)

__all__ = [
    "FEATURE_SETS",
    "LOGMEL_DEFAULTS",
    "SEGMENT_DEFAULTS",
    "FeatureCache",
    "FeatureMatrix",
    "Normalizer",
    "array_digest",
    "block_grid_positions",
    "block_groups",
    "canonical_feature_set",
    "default_cache_dir",
    "extract",
    "extract_logmel_segments",
    "feature_names",
    "file_digest",
    "hz_to_mel",
    "lbp",
    "lbp_histogram",
    "lbp_sip",
    "lbp_top",
    "lld_groups",
    "logmel",
    "logmel_segments",
    "mel_filterbank",
    "mel_to_hz",
    "melspectrogram",
    "nri_uniform_bins",
    "nri_uniform_table",
    "segment_starts",
    "zscore",
]
