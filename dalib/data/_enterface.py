"""eNTERFACE'05 audio-visual emotion database reader."""

from __future__ import annotations

import os
import re

from dalib.data._records import (
    Corpus,
    CorpusLayoutError,
    Record,
    as_root,
    is_junk,
    make_corpus,
    raise_unparsed,
    visible_entries,
)

__all__ = ["ENTERFACE_LABELS", "ENTERFACE_LAYOUT", "read_enterface"]

ENTERFACE_LAYOUT = "<root>/subject N/<emotion>/sentence K/sN_<em>_K.avi"

#: eNTERFACE emotion folder -> canonical label.
ENTERFACE_LABELS: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprise",
}

# Two-letter emotion code in file names -> emotion folder.
_CODES = {
    "an": "anger",
    "di": "disgust",
    "fe": "fear",
    "ha": "happiness",
    "sa": "sadness",
    "su": "surprise",
}
_SUBJECT = re.compile(r"^subject[ _-]?(\d+)$", re.IGNORECASE)
_NAME = re.compile(r"^s_?(?P<subject>\d+)_(?P<code>[a-z]{2})_(?P<sentence>\d+)$", re.IGNORECASE)


def read_enterface(root: str | os.PathLike[str]) -> Corpus:
    """Reads eNTERFACE'05 from its original layout of AVI files.

    Layout: ``<root>/subject N/<emotion>/sentence K/sN_<em>_K.avi`` with emotion
    folders ``anger``, ``disgust``, ``fear``, ``happiness``, ``sadness``,
    ``surprise`` and file codes ``an``, ``di``, ``fe``, ``ha``, ``sa``, ``su``.
    The label comes from the emotion folder and must agree with the code in
    the file name. The distributed corpus is not perfectly regular (subject 6
    is incomplete, some sentence folders are nested one level deeper), so
    every ``*.avi`` below an emotion folder is read, at any depth, and no
    subject needs all emotions or sentences. Folders at the root that are not
    ``subject N`` are ignored. Audio is demuxed when it is loaded
    (:func:`~dalib.data.load_audio`, with the ffmpeg binary of ``imageio-ffmpeg``).

    Args:
      root: the folder that holds the ``subject N`` folders.

    Returns:
      A :class:`~dalib.data.Corpus` with 6 classes (angry, disgust, fear, happy,
      sad, surprise); speakers are ``"1"``, ``"2"``, ... (the subject numbers).

    Raises:
      CorpusLayoutError: if there is no ``subject N`` folder, an emotion folder
        has an unknown name, or a file name does not parse or names another
        emotion than its folder (all offending paths are listed).

    Examples:
      >>> import pathlib, tempfile
      >>> root = pathlib.Path(tempfile.mkdtemp())
      >>> clip = root / "subject 1" / "anger" / "sentence 1" / "s1_an_1.avi"
      >>> clip.parent.mkdir(parents=True)
      >>> _ = clip.write_bytes(b"")  # parsing reads names only
      >>> corpus = read_enterface(root)
      >>> corpus.records[0].file, corpus.records[0].speaker, corpus.records[0].label
      ('s1_an_1', '1', 'angry')
    """
    root = as_root(root, "eNTERFACE'05", ENTERFACE_LAYOUT)
    subjects = []
    for entry in visible_entries(root):
        match = _SUBJECT.match(entry.name)
        if entry.is_dir() and match is not None:
            subjects.append((str(int(match[1])), entry))
    if not subjects:
        raise CorpusLayoutError(
            f"eNTERFACE'05 root {root} holds no 'subject N' folder; expected {ENTERFACE_LAYOUT}."
        )
    records, bad = [], []
    for speaker, subject_dir in subjects:
        for emotion_dir in visible_entries(subject_dir):
            rel = emotion_dir.relative_to(root).as_posix()
            if not emotion_dir.is_dir():
                bad.append(rel)
                continue
            emotion = emotion_dir.name.lower()
            if emotion not in ENTERFACE_LABELS:
                bad.append(f"{rel}/ (unknown emotion folder)")
                continue
            for path in sorted(emotion_dir.rglob("*")):
                if path.is_dir() or any(
                    is_junk(part) for part in path.relative_to(emotion_dir).parts
                ):
                    continue
                rel = path.relative_to(root).as_posix()
                match = _NAME.match(path.stem)
                if (
                    path.suffix.lower() != ".avi"
                    or match is None
                    or _CODES.get(match["code"].lower()) != emotion
                ):
                    bad.append(rel)
                    continue
                records.append(
                    Record(
                        path=path,
                        label=ENTERFACE_LABELS[emotion],
                        speaker=speaker,
                        file=path.stem,
                        original_label=emotion,
                    )
                )
    raise_unparsed(
        "eNTERFACE'05",
        bad,
        "sN_<em>_K.avi with <em> in an|di|fe|ha|sa|su matching the emotion folder",
        ENTERFACE_LAYOUT,
    )
    return make_corpus(
        "enterface",
        root,
        records,
        sorted(set(ENTERFACE_LABELS.values())),
        ENTERFACE_LABELS,
        layout=ENTERFACE_LAYOUT,
    )
