"""Emotion corpora from their original layouts, audio decoding, feature tables.

Readers (pure Python, no TensorFlow) parse a corpus folder as distributed and
return a :class:`Corpus`: one :class:`Record` per utterance (audio path,
canonical label, speaker, utterance id) and the label mapping. Labels use one vocabulary,
:data:`CANONICAL_LABELS`, so that two corpora share classes by name.

TFDS builders (``dalib.data.builders``: ``EmoDB``, ``Enterface``, ``Casia``,
``Iemocap``) are imported on first use, as they pull in
``tensorflow_datasets``; they write ``array_record`` files and need no
TensorFlow.
"""

from __future__ import annotations

import os
import re

from dalib.audio import load_audio, resample, to_int16
from dalib.data._casia import CASIA_LABELS, CASIA_LAYOUT, read_casia
from dalib.data._emodb import EMODB_LABELS, EMODB_LAYOUT, read_emodb
from dalib.data._enterface import ENTERFACE_LABELS, ENTERFACE_LAYOUT, read_enterface
from dalib.data._iemocap import IEMOCAP_LABELS, IEMOCAP_LAYOUT, read_iemocap
from dalib.data._records import (
    CANONICAL_LABELS,
    AudioReadError,
    Corpus,
    CorpusLayoutError,
    Record,
)
from dalib.data._tables import FeatureTable, TableError, corpus_to_table, load_table, save_table

__all__ = [
    "CANONICAL_LABELS",
    "CASIA_LABELS",
    "CASIA_LAYOUT",
    "CORPORA",
    "EMODB_LABELS",
    "EMODB_LAYOUT",
    "ENTERFACE_LABELS",
    "ENTERFACE_LAYOUT",
    "IEMOCAP_LABELS",
    "IEMOCAP_LAYOUT",
    "AudioReadError",
    "Corpus",
    "CorpusLayoutError",
    "FeatureTable",
    "Record",
    "TableError",
    "corpus_to_table",
    "load_audio",
    "load_table",
    "read_casia",
    "read_corpus",
    "read_emodb",
    "read_enterface",
    "read_iemocap",
    "resample",
    "save_table",
    "to_int16",
]

#: Corpus name -> reader.
CORPORA = {
    "emodb": read_emodb,
    "enterface": read_enterface,
    "casia": read_casia,
    "iemocap": read_iemocap,
}
_ALIASES = {"berlin": "emodb", "enterface05": "enterface"}


def read_corpus(name: str, root: str | os.PathLike[str]) -> Corpus:
    """Reads corpus ``name`` (``emodb``, ``enterface``, ``casia``, ``iemocap``) from ``root``.

    Names are matched ignoring case and punctuation (``"EmoDB"``, ``"eNTERFACE'05"``).

    Examples:
      >>> read_corpus("SAVEE", "/nonexistent")
      Traceback (most recent call last):
      ...
      ValueError: unknown corpus 'SAVEE'; choose one of emodb, enterface, casia, iemocap.
    """
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    key = _ALIASES.get(key, key)
    if key not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}.")
    return CORPORA[key](root)


def __getattr__(name: str):
    if name == "builders":
        import importlib

        return importlib.import_module("dalib.data.builders")
    raise AttributeError(f"module 'dalib.data' has no attribute {name!r}")
