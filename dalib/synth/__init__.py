"""Built-in synthetic corpora for cross-corpus emotion recognition.

Speech: three acted-emotion corpora synthesised offline with eSpeak NG that
mimic the B/E/C cross-corpus SER protocol (EmoDB, eNTERFACE'05, CASIA):
``synth-emodb`` (German), ``synth-enterface`` (English), ``synth-casia``
(Mandarin). See ``docs/synthetic_corpora.md`` for their design and measured
within- and cross-corpus accuracy. TFDS builders for them are in
:mod:`dalib.synth.builders` (imported on demand: it needs tensorflow-datasets).

Micro-expressions: five stand-ins for the CDMER databases written in the
original layouts of the real releases (frames and coding spreadsheets), so
that the real readers and the LBP-TOP pipeline run on them end to end:
``casme2`` (C), ``smic-hs`` (H), ``smic-vis`` (V), ``smic-nir`` (N), ``samm`` (S).
See :func:`build_me` and ``docs/micro_expressions.md``.
"""

from dalib.synth._build import build_speech_corpora as build_speech_corpora
from dalib.synth._build import default_root as default_root
from dalib.synth._build import is_current_build as is_current_build
from dalib.synth._build import load_manifest as load_manifest
from dalib.synth._build import load_synthetic_table as load_synthetic_table
from dalib.synth._build import resolve_corpus as resolve_corpus
from dalib.synth._espeak import SAMPLE_RATE as SAMPLE_RATE
from dalib.synth._espeak import EspeakError as EspeakError
from dalib.synth._espeak import espeak_version as espeak_version
from dalib.synth._espeak import synthesize as synthesize
from dalib.synth._me import ME_DATABASES as ME_DATABASES
from dalib.synth._me import MEDatabaseSpec as MEDatabaseSpec
from dalib.synth._me_build import build_me as build_me
from dalib.synth._me_build import load_synthetic_me_table as load_synthetic_me_table
from dalib.synth._me_build import resolve_me_database as resolve_me_database
from dalib.synth._reader import read_synthetic as read_synthetic
from dalib.synth._speech import BASE_EXPRESSION as BASE_EXPRESSION
from dalib.synth._speech import SPEECH_CORPORA as SPEECH_CORPORA
from dalib.synth._speech import Channel as Channel
from dalib.synth._speech import Prosody as Prosody
from dalib.synth._speech import Speaker as Speaker
from dalib.synth._speech import SpeechCorpusSpec as SpeechCorpusSpec
from dalib.synth._speech import Variability as Variability
from dalib.synth._speech import render_utterance as render_utterance

__all__ = [
    "BASE_EXPRESSION",
    "ME_DATABASES",
    "SAMPLE_RATE",
    "SPEECH_CORPORA",
    "Channel",
    "EspeakError",
    "MEDatabaseSpec",
    "Prosody",
    "Speaker",
    "SpeechCorpusSpec",
    "Variability",
    "build_me",
    "build_speech_corpora",
    "default_root",
    "espeak_version",
    "is_current_build",
    "load_manifest",
    "load_synthetic_me_table",
    "load_synthetic_table",
    "read_synthetic",
    "render_utterance",
    "resolve_corpus",
    "resolve_me_database",
    "synthesize",
]
