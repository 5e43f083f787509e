"""Feature tables of micro-expression corpora: face preprocessing + LBP-TOP / LBP-SIP."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dalib.data import _face
from dalib.data._casme2 import read_casme2
from dalib.data._face import prepare_clip
from dalib.data._me import MECorpus
from dalib.data._samm import read_samm
from dalib.data._smic import read_smic_hs, read_smic_nir, read_smic_vis

__all__ = ["ME_CORPORA", "ME_FEATURE_SETS", "me_corpus_to_table", "me_features", "read_me_corpus"]

#: Micro-expression corpus name -> reader.
ME_CORPORA: dict[str, Callable[..., MECorpus]] = {
    "casme2": read_casme2,
    "smic-hs": read_smic_hs,
    "smic-vis": read_smic_vis,
    "smic-nir": read_smic_nir,
    "samm": read_samm,
}
#: Descriptor names accepted by :func:`me_features`.
ME_FEATURE_SETS: tuple[str, ...] = ("lbptop", "lbpsip")

_ALIASES = {"casmeii": "casme2", "smichs": "smic-hs", "smicvis": "smic-vis", "smicnir": "smic-nir"}
_READER_OPTIONS = ("release", "sheet", "missing")


def me_corpus_key(name: str) -> str | None:
    """``"CASME II"``, ``"SMIC-HS"``, ``"smic_vis"`` ... -> a key of :data:`ME_CORPORA` or None."""
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    key = _ALIASES.get(key, key)
    return key if key in ME_CORPORA else None


def read_me_corpus(name: str, root: str | os.PathLike[str], **options: Any) -> MECorpus:
    """Reads micro-expression corpus ``name`` with its reader's keyword ``options``."""
    key = me_corpus_key(name)
    if key is None:
        raise ValueError(
            f"unknown micro-expression corpus {name!r}; choose one of {', '.join(ME_CORPORA)}."
        )
    return ME_CORPORA[key](root, **options)


def _feature_set(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    if key not in ME_FEATURE_SETS:
        raise ValueError(
            f"unknown micro-expression feature set {name!r}; choose one of "
            f"{', '.join(ME_FEATURE_SETS)}."
        )
    return key


def _descriptor(name: str):
    import dalib.features as features

    fn = features.lbp_top if name == "lbptop" else features.lbp_sip
    return fn, features.block_groups


def _names(feature_set: str, n_blocks: int, per_block: int, neighbours: int) -> tuple[str, ...]:
    if feature_set == "lbptop" and per_block == 3 * (neighbours * (neighbours - 1) + 3):
        bins = per_block // 3
        parts = [f"{plane}{b:02d}" for plane in ("xy", "xt", "yt") for b in range(bins)]
    elif feature_set == "lbpsip" and per_block == 20:
        parts = [f"s{b:02d}" for b in range(16)] + [f"t{b}" for b in range(4)]
    else:
        parts = [f"{b:03d}" for b in range(per_block)]
    return tuple(f"{feature_set}_b{k:02d}_{p}" for k in range(n_blocks) for p in parts)


def me_features(
    corpus: MECorpus,
    feature_set: str = "lbptop",
    *,
    size: tuple[int, int] | None = None,
    num_frames: int | str | None = "default",
    detect: bool | None = None,
    span: str = "all",
    radii: Sequence[float] = (3, 3, 3),
    neighbours: int = 8,
    grids: Sequence[int] = (1, 2, 4, 8),
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], dict[str, Any]]:
    """Descriptor of every clip of a micro-expression corpus.

    Each clip goes through :func:`~dalib.data.prepare_clip` (grayscale, face
    box on the onset frame for raw releases, resize to ``size``, linear
    resampling to ``num_frames``, values in ``[0, 1]``), then
    :func:`dalib.features.lbp_top` (``radii``, ``neighbours``, ``grids``) or
    :func:`dalib.features.lbp_sip` (``grids``), per-plane normalised histograms.

    Args:
      corpus: from a micro-expression reader.
      feature_set: ``"lbptop"`` or ``"lbpsip"``.
      size: face size ``(height, width)``; ``None``: :data:`~dalib.data.FACE_SIZE` (112 x 112).
      num_frames: clip length after temporal normalisation (default
        :data:`~dalib.data.NUM_FRAMES`, 16; ``None``: as recorded, and clips
        must then be long enough for the temporal radius).
      detect: run the face detector; ``None`` means ``corpus.release == "raw"``.
      span: ``"all"`` or ``"onset-offset"`` frames (see :func:`~dalib.data.prepare_clip`).
      radii, neighbours, grids: LBP-TOP options (``grids`` for LBP-SIP too).

    Returns:
      ``(features [N, D] float32, groups [D] int32, names [D], face report)``;
      the face report counts clips whose face was detected and those that fell
      back to the centred square (listed).

    Raises:
      FrameReadError: a frame cannot be read (named).
      ValueError: bad options, or a clip too small for the descriptor.
    """
    name = _feature_set(feature_set)
    fn, block_groups = _descriptor(name)
    size = _face.FACE_SIZE if size is None else tuple(size)
    num_frames = _face.NUM_FRAMES if num_frames == "default" else num_frames
    if detect is None:
        detect = corpus.release == "raw"
    grids = tuple(int(g) for g in grids)
    if name == "lbptop":
        options = {"radii": tuple(float(r) for r in radii), "neighbours": int(neighbours)}
    else:
        options = {}
    rows, fallback, detected = [], [], 0
    for clip in corpus.clips:
        prepared = prepare_clip(clip, size=size, num_frames=num_frames, detect=detect, span=span)
        if detect:
            if prepared.box.detected:
                detected += 1
            else:
                fallback.append(clip.file)
        try:
            vector = np.asarray(fn(prepared.array, grids=grids, **options), np.float32)
        except ValueError as err:
            raise ValueError(f"{name} of clip {clip.file} ({clip.path}): {err}") from err
        rows.append(vector)
    features = np.stack(rows)
    n_blocks = sum(g * g for g in grids)
    per_block = features.shape[1] // n_blocks
    groups = np.asarray(block_groups(grids, per_block), np.int32)
    names = _names(name, n_blocks, per_block, int(neighbours))
    face = {
        "detector": "opencv haarcascade_frontalface_default (onset frame)" if detect else "none",
        "size": list(size),
        "num_frames": num_frames,
        "detected": detected,
        "fallback_centre_square": len(fallback),
        "fallback_clips": fallback,
    }
    return features, groups, names, face


def me_corpus_to_table(
    corpus_name: str,
    root: str | os.PathLike[str],
    feature_set: str,
    out: str | os.PathLike[str],
    **options: Any,
):
    """Reads a micro-expression corpus, computes LBP-TOP/LBP-SIP, writes a feature table.

    What ``corpus_to_table(name, root, "lbptop" | "lbpsip", out)`` runs for
    ``casme2``, ``smic-hs``, ``smic-vis``, ``smic-nir`` and ``samm``. The table
    has ``subjects`` (no ``speakers``), ``files`` (clip ids), ``groups`` (the
    face block of each column) and ``meta``: corpus, release, fps, feature set
    and every option, the label map, the dropped labels with counts, the
    reader's report and the face-detection report; ``meta["summary"]`` is a
    printable digest. Everything is computed before the table is written (to a
    temporary name, then renamed), so an error leaves no file.

    Args:
      corpus_name: one of :data:`ME_CORPORA`.
      root: the corpus folder in its original layout.
      feature_set: ``"lbptop"`` or ``"lbpsip"``.
      out: ``*.npz`` or ``*.csv``.
      **options: reader options (``release``, ``sheet``, ``missing``) and
        :func:`me_features` options (``size``, ``num_frames``, ``detect``,
        ``span``, ``radii``, ``neighbours``, ``grids``).

    Returns:
      The :class:`~dalib.data.FeatureTable` written (read back).
    """
    from dalib.data._tables import load_table, save_table

    name = _feature_set(feature_set)
    reader_options = {k: options.pop(k) for k in _READER_OPTIONS if k in options}
    unknown = set(options) - {
        "size",
        "num_frames",
        "detect",
        "span",
        "radii",
        "neighbours",
        "grids",
    }
    if unknown:
        raise ValueError(f"unknown micro-expression table option(s) {sorted(unknown)}.")
    corpus = read_me_corpus(corpus_name, root, **reader_options)
    features, groups, names, face = me_features(corpus, name, **options)
    settings = {
        "size": face.pop("size"),
        "num_frames": face.pop("num_frames"),
        "span": options.get("span", "all"),
        "grids": list(options.get("grids", (1, 2, 4, 8))),
    }
    if name == "lbptop":
        settings["radii"] = list(options.get("radii", (3, 3, 3)))
        settings["neighbours"] = options.get("neighbours", 8)
    summary = corpus.summary()
    if face["detector"] != "none":
        summary += (
            f"\n  faces: detected in {face['detected']} clips, centred-square fallback in "
            f"{face['fallback_centre_square']}"
        )
    meta = {
        "corpus": corpus.name,
        "root": str(corpus.root),
        "release": corpus.release,
        "fps": corpus.fps,
        "feature_set": name,
        "options": settings,
        "label_names": list(corpus.label_names),
        "label_map": dict(corpus.label_map),
        "dropped": dict(corpus.dropped),
        "report": {k: list(v) for k, v in corpus.report.items()},
        "face": face,
        "onset_apex_offset": {
            c.file: [c.onset, c.apex, c.offset] for c in corpus.clips
        },
        "summary": summary,
    }
    save_table(
        out,
        features,
        corpus.labels,
        files=corpus.files,
        subjects=corpus.subjects,
        feature_names=names,
        groups=groups,
        meta=meta,
    )
    return load_table(out)
