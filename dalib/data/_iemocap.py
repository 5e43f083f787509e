"""IEMOCAP reader (speech, categorical labels, the usual 4-class convention)."""

from __future__ import annotations

import collections
import os
import re

from dalib.data._records import (
    Corpus,
    CorpusLayoutError,
    Record,
    as_root,
    make_corpus,
    raise_unparsed,
    require_dir,
    visible_entries,
)

__all__ = ["IEMOCAP_LABELS", "IEMOCAP_LAYOUT", "read_iemocap"]

IEMOCAP_LAYOUT = (
    "<root>/SessionN/sentences/wav/<dialog>/<utterance>.wav with labels in "
    "<root>/SessionN/dialog/EmoEvaluation/<dialog>.txt"
)

#: IEMOCAP label code -> canonical label, 4-class convention (``exc`` merged
#: into happy). Every other code (fru, sur, fea, dis, oth, xxx) is dropped.
IEMOCAP_LABELS: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "happy",
    "ang": "angry",
    "sad": "sad",
}

_SESSION = re.compile(r"^Session(\d+)$", re.IGNORECASE)
# "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]"
_TURN = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(?P<utt>\S+)\s+(?P<label>\S+)\s+\[")
_UTTERANCE = re.compile(r"^(?P<session>Ses\d{2})[FM]_\S+_(?P<gender>[FM])[A-Za-z0-9]+$")


def _read_evaluations(session_dir, labels, bad):
    folder = session_dir / "dialog" / "EmoEvaluation"
    require_dir(folder, "IEMOCAP folder", IEMOCAP_LAYOUT)
    for txt in visible_entries(folder):
        if txt.is_dir() or txt.suffix.lower() != ".txt":
            continue  # Categorical/, Attribute/, Self-evaluation/ hold per-rater files
        found = 0
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _TURN.match(line)
            if match is None:
                continue  # header, per-rater lines ("C-E1: Neutral; ()"), blank lines
            found += 1
            utt = match["utt"]
            if utt in labels:
                raise CorpusLayoutError(
                    f"IEMOCAP: utterance {utt} is labelled twice (again in {txt})."
                )
            labels[utt] = match["label"].lower()
        if not found:
            bad.append(f"{txt.relative_to(session_dir.parent).as_posix()} (no labelled turn)")


def read_iemocap(root: str | os.PathLike[str]) -> Corpus:
    """Reads IEMOCAP's segmented utterances with the 4-class label convention.

    Audio: ``<root>/SessionN/sentences/wav/<dialog>/<utterance>.wav``; labels:
    the turn lines of ``<root>/SessionN/dialog/EmoEvaluation/<dialog>.txt``, e.g.
    ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, ...]``.
    Classes: neutral (``neu``), happy (``hap`` and ``exc`` merged), angry
    (``ang``), sad (``sad``). Utterances with any other label are dropped and
    counted in :attr:`Corpus.dropped`. The speaker is the session plus the
    gender letter of the utterance (``Ses01F_impro01_M003`` -> ``Ses01M``), ten
    speakers in all. Sessions present on disk are read (any subset of 1-5);
    files in the wav folders that are not ``.wav`` are ignored.

    Args:
      root: the IEMOCAP release folder (the one that holds ``Session1`` ...).

    Returns:
      A :class:`~dalib.data.Corpus` with 4 classes: angry, happy, neutral, sad.

    Raises:
      CorpusLayoutError: if no ``SessionN`` folder exists, a session lacks
        ``sentences/wav`` or ``dialog/EmoEvaluation``, a wav has no label or an
        unparseable name, or a labelled utterance has no wav (all listed).

    Examples:
      >>> import pathlib, tempfile
      >>> root = pathlib.Path(tempfile.mkdtemp())
      >>> wav = root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav"
      >>> wav.parent.mkdir(parents=True)
      >>> _ = wav.write_bytes(b"")  # parsing reads names only
      >>> txt = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
      >>> txt.parent.mkdir(parents=True)
      >>> _ = txt.write_text("[0.1 - 1.2]\\tSes01F_impro01_M000\\texc\\t[2.0, 3.0, 3.0]\\n")
      >>> r = read_iemocap(root).records[0]
      >>> r.file, r.speaker, r.label, r.original_label
      ('Ses01F_impro01_M000', 'Ses01M', 'happy', 'exc')
    """
    root = as_root(root, "IEMOCAP", IEMOCAP_LAYOUT)
    sessions = [
        p for p in visible_entries(root) if p.is_dir() and _SESSION.match(p.name) is not None
    ]
    if not sessions:
        raise CorpusLayoutError(
            f"IEMOCAP root {root} holds no SessionN folder; expected {IEMOCAP_LAYOUT}."
        )
    labels: dict[str, str] = {}
    bad: list[str] = []
    wavs = {}
    for session_dir in sessions:
        _read_evaluations(session_dir, labels, bad)
        wav_root = session_dir / "sentences" / "wav"
        require_dir(wav_root, "IEMOCAP folder", IEMOCAP_LAYOUT)
        for dialog_dir in visible_entries(wav_root):
            if not dialog_dir.is_dir():
                continue
            for path in visible_entries(dialog_dir):
                if path.is_dir() or path.suffix.lower() != ".wav":
                    continue
                rel = path.relative_to(root).as_posix()
                if _UTTERANCE.match(path.stem) is None:
                    bad.append(f"{rel} (name is not SesNN<F|M>_<dialog>_<F|M>NNN)")
                elif path.stem not in labels:
                    bad.append(f"{rel} (no label in dialog/EmoEvaluation/{dialog_dir.name}.txt)")
                else:
                    wavs[path.stem] = path
    missing = sorted(set(labels) - set(wavs))
    bad.extend(f"{utt}.wav (labelled, but not found under sentences/wav)" for utt in missing)
    raise_unparsed(
        "IEMOCAP", bad, "<dialog>/<utterance>.wav, every wav labelled once", IEMOCAP_LAYOUT
    )
    records = []
    dropped: collections.Counter[str] = collections.Counter()
    for utt, path in wavs.items():
        code = labels[utt]
        if code not in IEMOCAP_LABELS:
            dropped[code] += 1
            continue
        match = _UTTERANCE.match(utt)
        records.append(
            Record(
                path=path,
                label=IEMOCAP_LABELS[code],
                speaker=f"{match['session']}{match['gender']}",
                file=utt,
                original_label=code,
            )
        )
    return make_corpus(
        "iemocap",
        root,
        records,
        sorted(set(IEMOCAP_LABELS.values())),
        IEMOCAP_LABELS,
        dropped,
        layout=IEMOCAP_LAYOUT,
    )
