"""EmoDB (Berlin Database of Emotional Speech) reader."""

from __future__ import annotations

import os
import re

from dalib.data._records import (
    Corpus,
    Record,
    as_root,
    make_corpus,
    raise_unparsed,
    require_dir,
    visible_entries,
)

__all__ = ["EMODB_LABELS", "EMODB_LAYOUT", "read_emodb"]

EMODB_LAYOUT = "<root>/wav/*.wav named like 03a01Fa.wav"

#: EmoDB emotion letter (6th character of a file name) -> canonical label.
EMODB_LABELS: dict[str, str] = {
    "W": "angry",  # Wut
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happy",  # Freude
    "N": "neutral",
    "T": "sad",  # Trauer
}

_SPEAKERS = frozenset({"03", "08", "09", "10", "11", "12", "13", "14", "15", "16"})
_NAME = re.compile(r"^(?P<speaker>\d{2})(?P<text>[ab]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])$")


def read_emodb(root: str | os.PathLike[str]) -> Corpus:
    """Reads EmoDB from its original layout ``<root>/wav/03a01Fa.wav``.

    File names encode everything: characters 1-2 the speaker (03, 08-16), 3-5
    the text code (a01-a07, b01-b10), 6 the emotion letter (W anger, L boredom,
    E disgust, A fear, F happiness, T sadness, N neutral) and 7 the version.
    Only ``*.wav`` files in ``wav/`` are read (the corpus's other folders, e.g.
    ``lablaut/``, are ignored); hidden files are skipped. The audio is 16 kHz mono.

    Args:
      root: the EmoDB folder (the one that holds ``wav/``).

    Returns:
      A :class:`~dalib.data.Corpus` with 7 classes: angry, boredom, disgust, fear,
      happy, neutral, sad.

    Raises:
      CorpusLayoutError: if ``wav/`` is missing or holds no ``.wav`` file, or if a
        file name does not follow the naming (all offending names are listed).

    Examples:
      >>> import pathlib, tempfile
      >>> import numpy as np, soundfile as sf
      >>> root = pathlib.Path(tempfile.mkdtemp())
      >>> (root / "wav").mkdir()
      >>> sf.write(root / "wav" / "03a01Fa.wav", np.zeros(800), 16000)
      >>> corpus = read_emodb(root)
      >>> r = corpus.records[0]
      >>> r.file, r.speaker, r.label, r.original_label
      ('03a01Fa', '03', 'happy', 'F')
    """
    root = as_root(root, "EmoDB", EMODB_LAYOUT)
    wav_dir = root / "wav"
    require_dir(wav_dir, "EmoDB folder", EMODB_LAYOUT)
    records, bad = [], []
    for path in visible_entries(wav_dir):
        if path.is_dir() or path.suffix.lower() != ".wav":
            bad.append(path.name)
            continue
        match = _NAME.match(path.stem)
        if (
            match is None
            or match["speaker"] not in _SPEAKERS
            or match["emotion"] not in EMODB_LABELS
        ):
            bad.append(path.name)
            continue
        letter = match["emotion"]
        records.append(
            Record(
                path=path,
                label=EMODB_LABELS[letter],
                speaker=match["speaker"],
                file=path.stem,
                original_label=letter,
            )
        )
    raise_unparsed(
        "EmoDB",
        bad,
        "SSTTTEV.wav (speaker 03|08-16, text a01-b10, emotion W|L|E|A|F|T|N, version a-z)",
        EMODB_LAYOUT,
    )
    label_names = sorted(set(EMODB_LABELS.values()))
    return make_corpus("emodb", root, records, label_names, EMODB_LABELS, layout=EMODB_LAYOUT)
