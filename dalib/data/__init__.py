"""Emotion corpora from their original layouts, audio decoding, feature tables.

Readers (pure Python, no TensorFlow) parse a corpus folder as distributed and
return a :class:`Corpus`: one :class:`Record` per utterance (audio path,
canonical label, speaker, utterance id) and the label mapping. Labels use one vocabulary,
:data:`CANONICAL_LABELS`, so that two corpora share classes by name.

Micro-expression readers (``casme2``, ``smic-hs``, ``smic-vis``, ``smic-nir``,
``samm``) return an :class:`MECorpus` of :class:`Clip` (a folder of frames,
onset/apex/offset, subject, CDMER class); :func:`prepare_clip` turns a clip
into a face-cropped, fixed-size ``[T, H, W]`` array and
:func:`me_corpus_to_table` into LBP-TOP/LBP-SIP feature tables with ``groups``.
:func:`import_mat` reads features exchanged as MATLAB files.

TFDS builders (``dalib.data.builders``: ``EmoDB``, ``Enterface``, ``Casia``,
``Iemocap``, ``Casme2``, ``SmicHS``, ``SmicVIS``, ``SmicNIR``, ``Samm``) are
imported on first use, as they pull in ``tensorflow_datasets``; they write
``array_record`` files and need no TensorFlow.
"""

from __future__ import annotations

import os
import re

from dalib.audio import load_audio, resample, to_int16
from dalib.data._casia import CASIA_LABELS, CASIA_LAYOUT, read_casia
from dalib.data._casme2 import CASME2_DROPPED, CASME2_LABELS, CASME2_LAYOUT, read_casme2
from dalib.data._emodb import EMODB_LABELS, EMODB_LAYOUT, read_emodb
from dalib.data._enterface import ENTERFACE_LABELS, ENTERFACE_LAYOUT, read_enterface
from dalib.data._face import (
    FACE_SIZE,
    NUM_FRAMES,
    FaceBox,
    PreparedClip,
    clip_to_array,
    find_face,
    load_frames,
    prepare_clip,
    resample_frames,
)
from dalib.data._iemocap import IEMOCAP_LABELS, IEMOCAP_LAYOUT, read_iemocap
from dalib.data._matlab import import_mat
from dalib.data._me import ME_LABELS, Clip, FrameReadError, MECorpus
from dalib.data._me_tables import (
    ME_CORPORA,
    ME_FEATURE_SETS,
    me_corpus_to_table,
    me_features,
    read_me_corpus,
)
from dalib.data._records import (
    CANONICAL_LABELS,
    AudioReadError,
    Corpus,
    CorpusLayoutError,
    Record,
)
from dalib.data._samm import SAMM_DROPPED, SAMM_LABELS, SAMM_LAYOUT, read_samm
from dalib.data._smic import (
    SMIC_FPS,
    SMIC_LABELS,
    SMIC_LAYOUT,
    read_smic,
    read_smic_hs,
    read_smic_nir,
    read_smic_vis,
)
from dalib.data._tables import FeatureTable, TableError, corpus_to_table, load_table, save_table

__all__ = [
    "CANONICAL_LABELS",
    "CASIA_LABELS",
    "CASIA_LAYOUT",
    "CASME2_DROPPED",
    "CASME2_LABELS",
    "CASME2_LAYOUT",
    "CORPORA",
    "EMODB_LABELS",
    "EMODB_LAYOUT",
    "ENTERFACE_LABELS",
    "ENTERFACE_LAYOUT",
    "FACE_SIZE",
    "IEMOCAP_LABELS",
    "IEMOCAP_LAYOUT",
    "ME_CORPORA",
    "ME_FEATURE_SETS",
    "ME_LABELS",
    "NUM_FRAMES",
    "SAMM_DROPPED",
    "SAMM_LABELS",
    "SAMM_LAYOUT",
    "SMIC_FPS",
    "SMIC_LABELS",
    "SMIC_LAYOUT",
    "AudioReadError",
    "Clip",
    "Corpus",
    "CorpusLayoutError",
    "FaceBox",
    "FeatureTable",
    "FrameReadError",
    "MECorpus",
    "PreparedClip",
    "Record",
    "TableError",
    "clip_to_array",
    "corpus_to_table",
    "find_face",
    "import_mat",
    "load_audio",
    "load_frames",
    "load_table",
    "me_corpus_to_table",
    "me_features",
    "prepare_clip",
    "read_casia",
    "read_casme2",
    "read_corpus",
    "read_emodb",
    "read_enterface",
    "read_iemocap",
    "read_me_corpus",
    "read_samm",
    "read_smic",
    "read_smic_hs",
    "read_smic_nir",
    "read_smic_vis",
    "resample",
    "resample_frames",
    "save_table",
    "to_int16",
]

#: Corpus name -> reader.
CORPORA = {
    "emodb": read_emodb,
    "enterface": read_enterface,
    "casia": read_casia,
    "iemocap": read_iemocap,
    **ME_CORPORA,
}
_ALIASES = {
    "berlin": "emodb",
    "enterface05": "enterface",
    "casmeii": "casme2",
    "smichs": "smic-hs",
    "smicvis": "smic-vis",
    "smicnir": "smic-nir",
}


def read_corpus(name: str, root: str | os.PathLike[str]) -> Corpus:
    """Reads corpus ``name`` from ``root`` in its original layout.

    Speech: ``emodb``, ``enterface``, ``casia``, ``iemocap`` (a :class:`Corpus`);
    micro-expressions: ``casme2``, ``smic-hs``, ``smic-vis``, ``smic-nir``,
    ``samm`` (an :class:`MECorpus`, with each reader's default options). Names
    are matched ignoring case and punctuation (``"EmoDB"``, ``"eNTERFACE'05"``,
    ``"SMIC_HS"``, ``"CASME II"``).

    Examples:
      >>> read_corpus("SAVEE", "/nonexistent")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: unknown corpus 'SAVEE'; choose one of emodb, enterface, ...
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
