"""Building, caching and loading the synthetic micro-expression databases."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dalib.synth import _me, _me_layout
from dalib.synth._build import MANIFEST, _Runner, _write_json, default_root, load_manifest
from dalib.synth._me import ME_DATABASES, MEDatabaseSpec

if TYPE_CHECKING:
    from dalib.data import FeatureTable

__all__ = ["build_me", "is_current_me_build", "load_synthetic_me_table", "resolve_me_database"]

log = logging.getLogger("dalib.synth")

#: Build order: a database that films another's events comes after it.
ME_ORDER = ("casme2", "smic-hs", "smic-vis", "smic-nir", "samm")

_ME_ALIASES = {
    **{s.code.lower(): s.name for s in ME_DATABASES.values()},
    **{s.name.replace("-", ""): s.name for s in ME_DATABASES.values()},
    **{"synth" + s.name.replace("-", ""): s.name for s in ME_DATABASES.values()},
    "casmeii": "casme2",
    "smichs": "smic-hs",
    "smicvis": "smic-vis",
    "smicnir": "smic-nir",
}


def resolve_me_database(db: str | MEDatabaseSpec) -> MEDatabaseSpec:
    """A spec from a spec, a name (``"casme2"``, ``"smic-hs"``, ``"SMIC-NIR"``) or a code (``"C"``).

    Codes are those of the CDMER benchmark: C (CASME II), H (SMIC-HS),
    V (SMIC-VIS), N (SMIC-NIR), S (SAMM). Case, dashes and a ``synth-``
    prefix are ignored.

    Raises:
      ValueError: for an unknown name.

    Examples:
      >>> from dalib.synth import resolve_me_database
      >>> spec = resolve_me_database("N")
      >>> spec.name, spec.fps, len(spec.subjects), spec.num_clips
      ('smic-nir', 25.0, 8, 71)
    """
    if isinstance(db, MEDatabaseSpec):
        return db
    key = "".join(ch for ch in str(db).lower() if ch.isalnum())
    name = _ME_ALIASES.get(key)
    if name is None:
        raise ValueError(
            f"unknown synthetic micro-expression database {db!r}; choose from "
            f"{', '.join(ME_ORDER)} or the codes C, H, V, N, S"
        )
    return ME_DATABASES[name]


def _subset_key(num_subjects, clips_per_subject) -> tuple | None:
    for arg, value in (("num_subjects", num_subjects), ("clips_per_subject", clips_per_subject)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"`{arg}` must be a positive integer or None, got {value!r}")
    if num_subjects is None and clips_per_subject is None:
        return None
    return (num_subjects, clips_per_subject)


def _select(spec: MEDatabaseSpec, clips: list[dict], subset: tuple | None) -> list[dict]:
    if subset is None:
        return clips
    num_subjects, per_subject = subset
    events = ME_DATABASES[spec.events_from] if spec.events_from else spec
    keep = set(events.subjects[: num_subjects or len(events.subjects)])
    out, seen = [], {}
    for c in clips:
        if c["subject"] not in keep:
            continue
        seen[c["subject"]] = seen.get(c["subject"], 0) + 1
        if per_subject is None or seen[c["subject"]] <= per_subject:
            out.append(c)
    return out


@functools.lru_cache(maxsize=8)
def _faces(name: str, seed: int) -> dict:
    return _me.subject_faces(ME_DATABASES[name], seed)


def _render_me_job(job: tuple) -> int:
    """Worker job: render one clip and write its frames; returns the bytes written."""
    name, seed, clip, folder = job
    spec = ME_DATABASES[name]
    frames = _me.render_planned_clip(spec, _faces(name, seed)[clip["subject"]], clip, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    size = 0
    for k, frame in enumerate(frames):
        data = _me_layout.encode_frame(spec, frame)
        (folder / _me_layout.frame_name(spec, clip, clip["onset_frame"] + k)).write_bytes(data)
        size += len(data)
    return size


def _cached(db_dir: Path, config_hash: str) -> dict | None:
    try:
        manifest = load_manifest(db_dir)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if manifest.get("config_hash") != config_hash:
        return None
    if not all((db_dir / c["folder"]).is_dir() for c in manifest["clips"]):
        return None
    return manifest


def _check_ours(db_dir: Path) -> None:
    """Refuses to replace a folder that is not an earlier synthetic build (e.g. real data)."""
    try:
        ours = load_manifest(db_dir).get("kind") == "me"
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        ours = False
    if not ours and any(db_dir.iterdir()):
        raise FileExistsError(
            f"{db_dir} exists and is not a synthetic micro-expression build (no manifest.json "
            "of dalib.synth.build_me); it may hold real data, so it is left alone. Choose "
            "another `out` folder or remove it yourself."
        )


def _build_database(
    spec: MEDatabaseSpec, db_dir: Path, seed: int, subset, runner: _Runner, force: bool
) -> dict:
    config_hash = _me.spec_hash(spec, seed=seed, subset=subset)
    manifest = None if force else _cached(db_dir, config_hash)
    if manifest is not None:
        log.info("%s: cached at %s", spec.name, db_dir)
        return manifest
    log.info("%s: rendering into %s", spec.name, db_dir)
    if db_dir.exists():
        _check_ours(db_dir)
        shutil.rmtree(db_dir)
    db_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    clips = _select(spec, _me.plan_database(spec, seed), subset)
    jobs = []
    for c in clips:
        c["folder"] = _me_layout.clip_folder(spec, c)
        jobs.append((spec.name, seed, c, str(db_dir / c["folder"])))
    sizes = runner.map(_render_me_job, jobs)
    sheet = _me_layout.spreadsheet(spec, clips)
    if sheet is not None:
        filename, rows, title = sheet
        _me_layout.write_workbook(db_dir / filename, rows, title=title)
    labels = sorted({c["label"] for c in clips if c["label"]})
    manifest = {
        "kind": "me",
        "name": spec.name,
        "code": spec.code,
        "stands_for": spec.stands_for,
        "config_hash": config_hash,
        "seed": seed,
        "generator_version": _me.ME_GENERATOR_VERSION,
        "subset": list(subset) if subset else None,
        "fps": spec.fps,
        "frame_size": list(spec.imaging.size),
        "classes": labels,
        "subjects": sorted({c["subject"] for c in clips}),
        "num_clips": len(clips),
        "num_clips_in_map": sum(1 for c in clips if c["label"]),
        "num_frames": sum(c["num_frames"] for c in clips),
        "frame_bytes": int(sum(sizes)),
        "spreadsheet": sheet[0] if sheet else None,
        "spec": spec.to_json(),
        "tables": {},
        "clips": clips,
    }
    _write_json(db_dir / MANIFEST, manifest)
    log.info("%s: %d clips rendered in %.1f s", spec.name, len(clips), time.perf_counter() - t0)
    return manifest


def _table_job_id(manifest: dict, feature_set: str) -> str:
    import hashlib

    return hashlib.sha256(
        f"{manifest['config_hash']}:{feature_set}:{_extractor_version()}".encode()
    ).hexdigest()


def _extractor_version() -> str:
    try:
        from dalib.features import _lbp

        return str(getattr(_lbp, "LBP_VERSION", "1"))
    except ImportError:  # pragma: no cover
        return "none"


def _export_table(manifest: dict, db_dir: Path, feature_set: str) -> Path:
    from dalib.data import corpus_to_table

    rel = f"features/{feature_set}.npz"
    table_hash = _table_job_id(manifest, feature_set)
    record = manifest["tables"].get(feature_set)
    if record and record["hash"] == table_hash and (db_dir / rel).is_file():
        return db_dir / rel
    log.info("%s: extracting %s through dalib.data.corpus_to_table", manifest["name"], feature_set)
    t0 = time.perf_counter()
    corpus_to_table(manifest["name"], db_dir, feature_set, db_dir / rel)
    manifest["tables"][feature_set] = {"path": rel, "hash": table_hash}
    _write_json(db_dir / MANIFEST, manifest)
    log.info("%s: %s table in %.1f s", manifest["name"], feature_set, time.perf_counter() - t0)
    return db_dir / rel


def build_me(
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    databases: Iterable[str | MEDatabaseSpec] | None = None,
    feature_sets: Sequence[str] = ("lbptop",),
    num_subjects: int | None = None,
    clips_per_subject: int | None = None,
    num_workers: int = 2,
    force: bool = False,
) -> dict[str, Path]:
    """Build (or find cached) the synthetic micro-expression databases in their original layouts.

    Each database goes to ``out/<name>/`` (``casme2``, ``smic-hs``,
    ``smic-vis``, ``smic-nir``, ``samm``) in the layout of the real release, so
    that the real readers (:func:`dalib.data.read_corpus`) read it:

    - ``casme2/CASME2_RAW_selected/subXX/EPxx_yy/imgN.jpg`` and
      ``casme2/CASME2-coding-20140508.xlsx`` (200 fps);
    - ``smic-hs/SMIC_all_raw/HS/sN/micro/{positive,negative,surprise}/sN_po_01/imageNNNNNN.bmp``
      (100 fps), likewise ``smic-vis/SMIC_all_raw/VIS/...`` and
      ``smic-nir/SMIC_all_raw/NIR/...`` (25 fps; the same events seen by two cameras);
    - ``samm/SAMM/0xx/0xx_k_j/0xx_NNNNN.jpg`` and
      ``samm/SAMM_Micro_FACS_Codes_v2.xlsx`` (title rows, then the header; 200 fps);

    plus ``manifest.json`` (the definition, its hash, every clip's subject,
    emotion, action units, timing and distractors) and
    ``features/<set>.npz``: the feature table computed from the written
    frames by :func:`dalib.data.corpus_to_table`, exactly as for a real
    database. A database whose manifest has the same hash is not rendered
    again; a table whose recorded hash matches is not extracted again.

    The same ``seed`` gives byte-identical frames and spreadsheets, whatever
    ``num_workers`` (spreadsheets carry fixed document and zip times).

    Args:
      out: the folder that receives one subfolder per database.
      seed: seed of every random draw (subjects, clip plans, head motion, noise).
      databases: names or codes (``C``, ``H``, ``V``, ``N``, ``S``); default all five.
      feature_sets: tables to export (``"lbptop"``; empty: frames only).
      num_subjects: keep the first ``k`` subjects of each database (quick tests).
      clips_per_subject: keep at most the first ``k`` clips of each subject.
      num_workers: worker processes for rendering (``0`` or ``1``: in this process).
      force: render and extract again even when cached.

    Returns:
      database name -> database folder (the reader's root).

    Raises:
      ValueError: unknown database, bad subset or worker count.
      FileExistsError: ``out/<name>`` exists and is not an earlier synthetic
        build (it may hold the real database): it is never overwritten.

    Examples:
      >>> import tempfile
      >>> from dalib.synth import build_me
      >>> with tempfile.TemporaryDirectory() as d:
      ...     paths = build_me(d, databases=["V"], num_subjects=1, clips_per_subject=1,
      ...                      feature_sets=(), num_workers=0)
      ...     print(sorted(p.name for p in (paths["smic-vis"] / "SMIC_all_raw" / "VIS").iterdir()))
      ['s1']
    """
    subset = _subset_key(num_subjects, clips_per_subject)
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"`num_workers` must be a non-negative integer, got {num_workers!r}")
    if isinstance(feature_sets, str):
        raise ValueError(
            f"`feature_sets` must be a sequence of names, got the string {feature_sets!r}; "
            f"write ({feature_sets!r},)"
        )
    feature_sets = [str(f).lower() for f in feature_sets]
    specs = [resolve_me_database(d) for d in (databases if databases is not None else ME_ORDER)]
    specs = sorted({s.name: s for s in specs}.values(), key=lambda s: ME_ORDER.index(s.name))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runner = _Runner(num_workers)
    paths = {}
    for spec in specs:
        db_dir = out / spec.name
        manifest = _build_database(spec, db_dir, seed, subset, runner, force)
        for feature_set in feature_sets:
            _export_table(manifest, db_dir, feature_set)
        paths[spec.name] = db_dir
    return paths


def is_current_me_build(db_dir: str | os.PathLike[str]) -> bool:
    """Whether a built database folder is this version's full build of that database.

    Raises ``FileNotFoundError`` when nothing is built there.
    """
    manifest = load_manifest(db_dir)
    spec = resolve_me_database(manifest["name"])
    return manifest.get("config_hash") == _me.spec_hash(spec, seed=manifest["seed"])


def load_synthetic_me_table(
    db: str,
    feature_set: str = "lbptop",
    *,
    root: str | os.PathLike[str] | None = None,
    build: bool = True,
    seed: int = 0,
) -> FeatureTable:
    """Load the feature table of a synthetic micro-expression database, building it if needed.

    Args:
      db: ``casme2``, ``smic-hs``, ``smic-vis``, ``smic-nir``, ``samm`` or a
        code ``C``, ``H``, ``V``, ``N``, ``S``.
      feature_set: a micro-expression feature set of
        :func:`dalib.data.corpus_to_table` (``"lbptop"``).
      root: the ``out`` folder of :func:`build_me` (default :func:`default_root`).
      build: build the database (all of it, with ``seed``) or extract the table
        when missing, and again when the folder holds a build that is not
        current (another generator version, or a subset); otherwise return
        what is there or raise ``FileNotFoundError``.
      seed: the seed of a new build; an existing build keeps its own seed.

    Returns:
      A :class:`dalib.data.FeatureTable` (labels ``positive``, ``negative``,
      ``surprise``; ``subjects``; ``files``).

    Raises:
      FileNotFoundError: the table is missing and ``build`` is false.
      ValueError: unknown database.
    """
    from dalib.data import load_table

    spec = resolve_me_database(db)
    feature_set = str(feature_set).lower()
    db_dir = (Path(root) if root is not None else default_root()) / spec.name
    path = db_dir / "features" / f"{feature_set}.npz"
    stale = build and (db_dir / MANIFEST).is_file() and not is_current_me_build(db_dir)
    if stale:
        log.warning("%s is a subset or another generator's build; building it again", db_dir)
    if stale or not path.is_file():
        if not build:
            raise FileNotFoundError(
                f"{path} does not exist: build it with dalib.synth.build_me"
                f"({str(db_dir.parent)!r}, databases=[{spec.name!r}]) or "
                f"`dalib synth me --out {db_dir.parent}`"
            )
        try:
            seed = load_manifest(db_dir)["seed"]
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        build_me(db_dir.parent, seed=seed, databases=[spec.name], feature_sets=[feature_set])
    return load_table(path)
