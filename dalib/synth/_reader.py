"""A :class:`dalib.data.Corpus` reader for a built synthetic corpus folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dalib.data import Corpus

__all__ = ["SYNTH_LAYOUT", "read_synthetic"]

SYNTH_LAYOUT = (
    "<root>/manifest.json and <root>/wav/<speaker>/<id>.wav, as written by "
    "dalib.synth.build_speech_corpora"
)


def read_synthetic(root: str | os.PathLike[str]) -> Corpus:
    """Reads a synthetic corpus folder (``out_dir/<name>``) through its manifest.

    Args:
      root: the corpus folder, e.g. ``paths["synth-emodb"]`` as returned by
        :func:`dalib.synth.build_speech_corpora`.

    Returns:
      A :class:`~dalib.data.Corpus` named after the corpus (``"synth-emodb"``),
      one record per utterance (``file`` is the utterance id ``b01_angry_s03``).

    Raises:
      CorpusLayoutError: no manifest, or a file it lists is missing.
    """
    # imported here: dalib.data pulls in JAX, which synthesis workers do not need
    from dalib.data._records import CANONICAL_LABELS, CorpusLayoutError, Record, make_corpus
    from dalib.synth._build import load_manifest

    root = Path(root)
    try:
        manifest = load_manifest(root)
    except FileNotFoundError as err:
        raise CorpusLayoutError(f"{err}; expected {SYNTH_LAYOUT}.") from None
    missing = [u["path"] for u in manifest["utterances"] if not (root / u["path"]).is_file()]
    if missing:
        raise CorpusLayoutError(
            f"{manifest['name']}: {len(missing)} files of the manifest are missing under "
            f"{root} (first: {', '.join(missing[:5])}); rebuild with build_speech_corpora."
        )
    records = [
        Record(
            path=root / u["path"],
            label=u["label"],
            speaker=u["speaker"],
            file=u["file"],
            original_label=u["label"],
        )
        for u in manifest["utterances"]
    ]
    classes = [c for c in CANONICAL_LABELS if c in manifest["classes"]]
    return make_corpus(
        manifest["name"],
        root,
        records,
        classes,
        {c: c for c in classes},
        layout=SYNTH_LAYOUT,
    )
