"""CASIA Chinese emotional speech corpus (public part) reader."""

from __future__ import annotations

import os

from dalib.data._records import (
    Corpus,
    CorpusLayoutError,
    Record,
    as_root,
    make_corpus,
    raise_unparsed,
    visible_entries,
)

__all__ = ["CASIA_LABELS", "CASIA_LAYOUT", "read_casia"]

CASIA_LAYOUT = (
    "<root>/<speaker>/<emotion>/<id>.wav with <emotion> in angry|fear|happy|neutral|sad|surprise"
)

#: CASIA emotion folder -> canonical label (the names already agree).
CASIA_LABELS: dict[str, str] = {
    "angry": "angry",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprise",
}


def read_casia(root: str | os.PathLike[str]) -> Corpus:
    """Reads the public part of CASIA from ``<root>/<speaker>/<emotion>/<id>.wav``.

    The public release has four speakers, six emotions (angry, fear, happy,
    neutral, sad, surprise) and 50 utterances per speaker and emotion (1,200 in
    all). Every folder at the root is a speaker; loose files at the root (a
    README) are ignored, hidden files everywhere. Utterance ids repeat across
    speakers and emotions, so a record's ``file`` is ``<speaker>/<emotion>/<id>``.

    Args:
      root: the folder that holds one folder per speaker.

    Returns:
      A :class:`~dalib.data.Corpus` with 6 classes.

    Raises:
      CorpusLayoutError: if there is no speaker folder, a speaker has no emotion
        folder, or an emotion folder has an unknown name or holds something other
        than ``.wav`` files (all offending paths are listed).

    Examples:
      >>> import pathlib, tempfile
      >>> import numpy as np, soundfile as sf
      >>> root = pathlib.Path(tempfile.mkdtemp())
      >>> (root / "wangzhe" / "sad").mkdir(parents=True)
      >>> sf.write(root / "wangzhe" / "sad" / "201.wav", np.zeros(800), 16000)
      >>> r = read_casia(root).records[0]
      >>> r.file, r.speaker, r.label
      ('wangzhe/sad/201', 'wangzhe', 'sad')
    """
    root = as_root(root, "CASIA", CASIA_LAYOUT)
    speakers = [p for p in visible_entries(root) if p.is_dir()]
    if not speakers:
        raise CorpusLayoutError(
            f"CASIA root {root} holds no speaker folder; expected {CASIA_LAYOUT}."
        )
    records, bad = [], []
    for speaker_dir in speakers:
        emotion_dirs = visible_entries(speaker_dir)
        if not emotion_dirs:
            bad.append(f"{speaker_dir.name}/ (empty speaker folder)")
        for emotion_dir in emotion_dirs:
            rel = emotion_dir.relative_to(root).as_posix()
            emotion = emotion_dir.name.lower()
            if not emotion_dir.is_dir() or emotion not in CASIA_LABELS:
                bad.append(rel if not emotion_dir.is_dir() else f"{rel}/ (unknown emotion folder)")
                continue
            for path in visible_entries(emotion_dir):
                if path.is_dir() or path.suffix.lower() != ".wav":
                    bad.append(path.relative_to(root).as_posix())
                    continue
                records.append(
                    Record(
                        path=path,
                        label=CASIA_LABELS[emotion],
                        speaker=speaker_dir.name,
                        file=f"{speaker_dir.name}/{emotion_dir.name}/{path.stem}",
                        original_label=emotion_dir.name,
                    )
                )
    raise_unparsed("CASIA", bad, "<speaker>/<emotion>/<id>.wav", CASIA_LAYOUT)
    return make_corpus(
        "casia", root, records, sorted(CASIA_LABELS.values()), CASIA_LABELS, layout=CASIA_LAYOUT
    )
