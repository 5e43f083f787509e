"""Log-mel segment tables of a speech protocol's corpora (``data.input=logmel``).

Each utterance of a corpus becomes one row ``[segments, frames, mels]``
(:func:`dalib.features.extract_logmel_segments`, cached per utterance in the
feature cache like every other feature), and a corpus one
:class:`~dalib.data.FeatureTable` whose ``features`` is
``[N, segments, frames, mels]`` float32 with the usual labels, speakers and
file ids: tasks, normalisation (per mel band), scoring and ``predictions.csv``
work on it unchanged, one row per utterance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dalib.features import LOGMEL_DEFAULTS, SEGMENT_DEFAULTS

__all__ = ["corpus_logmel_table", "load_logmel_tables"]


def corpus_logmel_table(corpus: Any, *, sample_rate: int = 16000, cache: Any = True):
    """The log-mel segment table of a speech :class:`~dalib.data.Corpus`.

    Args:
      corpus: a speech corpus (:func:`dalib.data.read_corpus`,
        :func:`dalib.synth.read_synthetic`).
      sample_rate: audio is decoded at this rate (Hz).
      cache: as in :func:`dalib.features.extract_logmel_segments`.

    Returns:
      A :class:`~dalib.data.FeatureTable` with ``features [N, S, F, M]``
      (:data:`dalib.features.SEGMENT_DEFAULTS`, :data:`dalib.features.LOGMEL_DEFAULTS`).
    """
    from dalib.data import FeatureTable
    from dalib.features import extract_logmel_segments

    values = extract_logmel_segments(corpus.paths, sample_rate=sample_rate, cache=cache)
    return FeatureTable(
        features=values,
        labels=np.asarray(corpus.labels, dtype=str),
        speakers=np.asarray(corpus.speakers, dtype=str),
        files=np.asarray(corpus.files, dtype=str),
        meta={
            "corpus": corpus.name,
            "root": str(corpus.root),
            "feature_set": "logmel_segments",
            "sample_rate": sample_rate,
            "segments": dict(SEGMENT_DEFAULTS),
            "logmel": dict(LOGMEL_DEFAULTS),
        },
    )


def load_logmel_tables(protocol: Any, corpora: Any, codes: list[str] | tuple[str, ...]):
    """The log-mel segment tables of a speech protocol's domains ``codes``.

    The synthetic corpora are built (or found current) first, as for their
    feature tables; a ``--root`` corpus is read from its original layout.

    Raises:
      ValueError: precomputed ``--tables`` (they hold no audio), or a protocol
        whose corpora are not speech.
    """
    from dalib.data import Corpus, read_corpus

    if corpora.kind == "tables":
        raise ValueError(
            "data.input=logmel computes log-mel segments from the audio, but --tables gives "
            "precomputed feature tables; use --synthetic or --root with the corpora's audio, or "
            "data.input=features"
        )
    tables = {}
    for code in codes:
        name = protocol.domains[code]
        if corpora.kind == "root":
            folder = Path(corpora.root) / protocol.root_dirs.get(code, name)
            corpus = read_corpus(name, folder)
        else:
            corpus = _synthetic_corpus(protocol, corpora, code)
        if not isinstance(corpus, Corpus):
            raise ValueError(
                f"data.input=logmel is for speech corpora, but domain {code} of protocol "
                f"{protocol.name!r} is {name!r} ({type(corpus).__name__}); use data.input=features"
            )
        tables[code] = corpus_logmel_table(corpus)
    return tables


def _synthetic_corpus(protocol: Any, corpora: Any, code: str):
    from dalib.experiment.protocols import _synthetic_speech

    if protocol.synthetic is not _synthetic_speech:
        raise ValueError(
            f"data.input=logmel is for speech protocols, but protocol {protocol.name!r} has "
            "other synthetic corpora; use data.input=features"
        )
    from dalib.synth import default_root, read_synthetic, resolve_corpus

    # Builds the corpus, or renders a stale build again, exactly as for its feature table.
    protocol.synthetic(code, protocol.feature_set, corpora.synth_root or None, corpora.synth_seed)
    base = Path(corpora.synth_root) if corpora.synth_root else default_root()
    if corpora.synth_seed != 0:
        base = base / f"seed_{corpora.synth_seed}"
    return read_synthetic(base / resolve_corpus(code).name)
