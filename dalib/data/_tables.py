"""Feature tables: a corpus as ``features [N, D]`` + class names, in ``.npz`` or ``.csv``."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jax.typing import ArrayLike

__all__ = ["FeatureTable", "corpus_to_table", "load_table", "save_table"]

_OPTIONAL = ("speakers", "subjects", "files")
# CSV column name -> table field (singular and plural spellings accepted).
_CSV_COLUMNS = {
    "label": "labels",
    "labels": "labels",
    "speaker": "speakers",
    "speakers": "speakers",
    "subject": "subjects",
    "subjects": "subjects",
    "file": "files",
    "files": "files",
}
_CSV_META = "# dalib-meta: "
_CSV_GROUPS = "# dalib-groups: "


class TableError(ValueError):
    """A feature table is malformed; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class FeatureTable:
    """A corpus as a table: one row of features per utterance.

    Attributes:
      features: ``[N, D]`` float32.
      labels: ``[N]`` class names (strings, e.g. ``"angry"``); ``""`` marks an
        unlabelled row (a target table may have some or only unlabelled rows).
      speakers: ``[N]`` speaker ids, or ``None``.
      subjects: ``[N]`` subject ids (video corpora), or ``None``.
      files: ``[N]`` utterance ids, or ``None``.
      feature_names: ``D`` column names, or ``None``.
      meta: free-form JSON-able metadata (corpus, feature set, options).
      groups: ``[D]`` int, the group (face block) of each feature column, or ``None``.
        A table of openSMILE functionals stored without groups gets the LLD of
        each column (:func:`dalib.features.lld_groups`: IS09 has 16 groups of 24).
    """

    features: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray | None = None
    subjects: np.ndarray | None = None
    files: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def classes(self) -> list[str]:
        """The class names present (unlabelled rows aside), sorted."""
        return sorted(set(self.labels.tolist()) - {""})

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the labelled rows."""
        return self.labels != ""


def _validate(
    source: str,
    features,
    labels,
    optional: Mapping[str, Any],
    feature_names,
    groups=None,
) -> FeatureTable:
    feats = np.asarray(features)
    if feats.dtype == object or not (
        np.issubdtype(feats.dtype, np.floating) or np.issubdtype(feats.dtype, np.integer)
    ):
        raise TableError(f"{source}: `features` must be numeric, got dtype {feats.dtype}.")
    if feats.ndim != 2:
        raise TableError(f"{source}: `features` must be [N, D], got shape {feats.shape}.")
    if feats.shape[0] == 0 or feats.shape[1] == 0:
        raise TableError(f"{source}: `features` is empty (shape {feats.shape}).")
    feats = feats.astype(np.float32)
    finite = np.isfinite(feats)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise TableError(
            f"{source}: `features` holds {int((~finite).sum())} NaN or infinite values in "
            f"{rows.size} rows (first rows: {rows[:10].tolist()}); clean or drop them."
        )
    n = feats.shape[0]
    labels = np.full(n, "", dtype=str) if labels is None else np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise TableError(
            f"{source}: `labels` must have one entry per row of `features`, got shapes "
            f"{labels.shape} and {feats.shape}."
        )
    if labels.dtype.kind not in "US" and not (
        labels.dtype == object and all(isinstance(v, str) for v in labels.tolist())
    ):
        raise TableError(
            f"{source}: `labels` must be class names (strings such as 'angry'), got dtype "
            f"{labels.dtype}; map class indices to names first, so that corpora can be matched "
            "by name."
        )
    labels = labels.astype(str)  # "": an unlabelled row
    extra = {}
    for key in _OPTIONAL:
        value = optional.get(key)
        if value is None:
            extra[key] = None
            continue
        arr = np.asarray(value)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise TableError(
                f"{source}: `{key}` must have one entry per row of `features`, got shapes "
                f"{arr.shape} and {feats.shape}."
            )
        extra[key] = arr.astype(str)
    names = None
    if feature_names is not None:
        names = tuple(str(x) for x in np.asarray(feature_names).tolist())
        if len(names) != feats.shape[1]:
            raise TableError(
                f"{source}: {len(names)} feature names for {feats.shape[1]} feature columns."
            )
    groups = _validate_groups(source, groups, feats.shape[1])
    if groups is None and names is not None:  # openSMILE functionals: the LLD of each column
        from dalib.features._groups import lld_groups

        groups = lld_groups(names)
    return FeatureTable(features=feats, labels=labels, feature_names=names, groups=groups, **extra)


def _validate_groups(source: str, groups, n_features: int) -> np.ndarray | None:
    if groups is None:
        return None
    arr = np.asarray(groups)
    if arr.ndim != 1 or arr.shape[0] != n_features:
        raise TableError(
            f"{source}: `groups` must give one group per feature column ({n_features}), got "
            f"shape {arr.shape}."
        )
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TableError(
            f"{source}: `groups` must be integers (the block of each feature column), got "
            f"dtype {arr.dtype}."
        )
    return arr.astype(np.int32)


def save_table(
    path: str | os.PathLike[str],
    features: ArrayLike,
    labels: Sequence[str] | np.ndarray | None,
    speakers: Sequence[str] | np.ndarray | None = None,
    files: Sequence[str] | np.ndarray | None = None,
    *,
    subjects: Sequence[str] | np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    groups: ArrayLike | None = None,
) -> Path:
    """Writes a feature table as ``.npz`` or ``.csv`` (chosen by the suffix).

    ``.npz`` keys: ``features`` (float32 ``[N, D]``), ``labels``, and when given
    ``speakers``, ``subjects``, ``files``, ``feature_names`` (unicode arrays) and
    ``meta`` (a JSON string), ``groups`` (int32); no pickled objects, so ``np.load`` reads it with
    ``allow_pickle=False``. ``.csv``: a first line ``# dalib-meta: {json}``, a
    header ``file,speaker,subject,label,<feature names>`` (absent columns left
    out; features named ``f0000``... when no names are given; with ``groups``, a
    line ``# dalib-groups: 0,0,...,84`` between the two), one row per
    utterance, floats written with 9 significant digits (float32 round-trips).
    The file is written to a temporary name and renamed.

    Args:
      path: output file, ``*.npz`` or ``*.csv``.
      features: ``[N, D]``.
      labels: ``[N]`` class names.
      speakers: ``[N]`` speaker ids.
      files: ``[N]`` utterance ids.
      subjects: ``[N]`` subject ids.
      feature_names: ``D`` column names.
      meta: JSON-able metadata.
      groups: ``[D]`` integers, the group (face block) of each feature column.

    Returns:
      The path written.

    Raises:
      ValueError: on the same problems :func:`load_table` rejects.

    Examples:
      >>> import pathlib, tempfile
      >>> import numpy as np
      >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.npz"
      >>> _ = save_table(out, np.eye(2), ["angry", "sad"], speakers=["s1", "s2"])
      >>> load_table(out).labels.tolist()
      ['angry', 'sad']
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise ValueError(f"feature tables are .npz or .csv files, got {path}.")
    table = _validate(
        str(path),
        features,
        labels,
        {"speakers": speakers, "subjects": subjects, "files": files},
        feature_names,
        groups,
    )
    meta_json = json.dumps(dict(meta or {}), sort_keys=True, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=f".tmp{suffix}")
    try:
        if suffix == ".npz":
            arrays = {
                "features": table.features,
                "labels": table.labels,
                "meta": np.array(meta_json),
            }
            for key in _OPTIONAL:
                if getattr(table, key) is not None:
                    arrays[key] = getattr(table, key)
            if table.feature_names is not None:
                arrays["feature_names"] = np.array(table.feature_names, dtype=str)
            if table.groups is not None:
                arrays["groups"] = table.groups
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
        else:
            _write_csv(fd, table, meta_json)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_csv(fd: int, table: FeatureTable, meta_json: str) -> None:
    names = table.feature_names or tuple(f"f{j:04d}" for j in range(table.features.shape[1]))
    clash = sorted(set(n.lower() for n in names) & set(_CSV_COLUMNS))
    if clash:
        raise TableError(f"feature names {clash} clash with the CSV's reserved columns.")
    columns = [
        (c, getattr(table, f))
        for c, f in (
            ("file", "files"),
            ("speaker", "speakers"),
            ("subject", "subjects"),
            ("label", "labels"),
        )
        if getattr(table, f) is not None
    ]
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        f.write(_CSV_META + meta_json + "\n")
        if table.groups is not None:
            f.write(_CSV_GROUPS + ",".join(str(g) for g in table.groups.tolist()) + "\n")
        writer = csv.writer(f)
        writer.writerow([c for c, _ in columns] + list(names))
        for i, row in enumerate(table.features):
            writer.writerow([v[i] for _, v in columns] + [f"{x:.9g}" for x in row.tolist()])


# What a damaged zip archive raises, from np.load or from reading one member.
_CORRUPT = (zipfile.BadZipFile, EOFError, zlib.error, OSError)


def _corrupt(path: Path, err: Exception) -> TableError:
    return TableError(
        f"{path}: the .npz archive is truncated or corrupted ({err}); "
        "write it again (e.g. with dalib.data.save_table or np.savez)."
    )


def _load_npz(path: Path) -> FeatureTable:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] != b"PK":
        raise TableError(
            f"{path}: not a .npz archive (an .npz is a zip file starting with b'PK', this one "
            f"starts with {magic!r}); write it with dalib.data.save_table or np.savez."
        )
    try:
        data = np.load(path, allow_pickle=False)
    except _CORRUPT as err:
        raise _corrupt(path, err) from err
    except ValueError as err:
        raise TableError(
            f"{path}: cannot read it without unpickling ({err}); store strings as unicode "
            "arrays, not Python objects."
        ) from err
    with data:
        keys = set(data.files)
        known = {"features", "labels", "feature_names", "groups", "meta", *_OPTIONAL}
        if "labels" not in keys and keys - known:  # most likely a misspelt column
            raise TableError(
                f"{path}: no 'labels' array but unknown array(s) {sorted(keys - known)}; a "
                f"feature table holds {sorted(known)} (a table without 'labels' is "
                f"unlabelled). Keys found: {sorted(keys)}."
            )
        if "features" not in keys:
            raise TableError(
                f"{path}: no 'features' array; a feature table needs 'features' [N, D] and, "
                f"for labelled rows, 'labels' [N] (optional: {', '.join(_OPTIONAL)}, "
                f"feature_names, groups, meta). Keys found: {sorted(keys)}."
            )
        try:
            arrays = {k: data[k] for k in keys}
        except _CORRUPT as err:
            raise _corrupt(path, err) from err
        except ValueError as err:
            raise TableError(f"{path}: holds pickled objects ({err}).") from err
    meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    table = _validate(
        str(path),
        arrays["features"],
        arrays.get("labels"),
        {k: arrays.get(k) for k in _OPTIONAL},
        arrays.get("feature_names"),
        arrays.get("groups"),
    )
    return dataclasses.replace(table, meta=meta)


def _load_csv(path: Path) -> FeatureTable:
    with open(path, newline="", encoding="utf-8") as f:
        first = f.readline()
        meta = {}
        if first.startswith(_CSV_META):
            meta = json.loads(first[len(_CSV_META) :])
        else:
            f.seek(0)
        groups = None
        position = f.tell()
        line = f.readline()
        if line.startswith(_CSV_GROUPS):
            groups = _parse_groups(path, line[len(_CSV_GROUPS) :])
        else:
            f.seek(position)
        rows = list(csv.reader(f))
    if not rows:
        raise TableError(f"{path}: empty CSV; expected a header with a 'label' column.")
    header, body = rows[0], [r for r in rows[1:] if r]
    fields = {}
    feature_cols = []
    for j, name in enumerate(header):
        field = _CSV_COLUMNS.get(name.strip().lower())
        if field is None:
            feature_cols.append(j)
        elif field in fields:
            raise TableError(
                f"{path}: two columns give {field}: {header[fields[field]]!r}, {name!r}."
            )
        else:
            fields[field] = j
    if not feature_cols:
        raise TableError(f"{path}: no feature columns besides {sorted(fields)}.")
    bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise TableError(
            f"{path}: rows {bad[:10]} have a different number of fields than the header "
            f"({len(header)})."
        )
    features = np.empty((len(body), len(feature_cols)), np.float32)
    for i, row in enumerate(body):
        try:
            features[i] = [float(row[j]) for j in feature_cols]
        except ValueError as err:
            raise TableError(f"{path}: line {i + 2} holds a non-numeric feature ({err}).") from err
    columns = {k: [r[j] for r in body] for k, j in fields.items()}
    table = _validate(
        str(path),
        features,
        np.array(columns.pop("labels"), dtype=str) if "labels" in columns else None,
        columns,
        [header[j] for j in feature_cols],
        groups,
    )
    return dataclasses.replace(table, meta=meta)


def _parse_groups(path: Path, text: str) -> np.ndarray:
    try:
        return np.array([int(v) for v in text.strip().split(",")], dtype=np.int64)
    except ValueError as err:
        raise TableError(
            f"{path}: the {_CSV_GROUPS.strip()} line must hold comma-separated integers ({err})."
        ) from err


def load_table(path: str | os.PathLike[str]) -> FeatureTable:
    """Reads and validates a feature table written by :func:`save_table` (or by hand).

    ``.npz``: arrays ``features`` and ``labels`` are required; ``speakers``,
    ``subjects``, ``files``, ``feature_names``, ``groups``, ``meta`` optional. ``.csv``: a
    ``label`` column is required; ``file``, ``speaker``, ``subject`` columns
    are optional; every other column is a feature.

    Args:
      path: a ``.npz`` or ``.csv`` file.

    Returns:
      A :class:`FeatureTable` (features float32).

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: a directory, a file that is not a zip archive or a truncated
        one (for ``.npz``), missing keys/columns, length mismatch, non-numeric or
        non-finite features, labels that are not class names (each named).

    Examples:
      >>> import pathlib, tempfile
      >>> import numpy as np
      >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
      >>> _ = save_table(out, np.ones((2, 3)), ["happy", "sad"], feature_names=["a", "b", "c"])
      >>> table = load_table(out)
      >>> table.features.shape, table.feature_names
      ((2, 3), ('a', 'b', 'c'))
    """
    path = Path(path)
    if path.is_dir():
        raise TableError(f"feature table {path} is a directory; pass a .npz or .csv file.")
    if not path.is_file():
        raise FileNotFoundError(f"feature table {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix == ".csv":
        return _load_csv(path)
    raise ValueError(f"feature tables are .npz or .csv files, got {path}.")


def corpus_to_table(
    corpus_name: str,
    root: str | os.PathLike[str],
    feature_set: str,
    out: str | os.PathLike[str],
    *,
    sample_rate: int = 16000,
    cache: Any = True,
    logmel_options: Mapping[str, Any] | None = None,
    me_options: Mapping[str, Any] | None = None,
) -> FeatureTable:
    """Reads a corpus from its original layout, extracts features, writes a table.

    What ``dalib features --corpus NAME --root DIR --set SET --out TABLE`` runs.
    Features are the raw extractor outputs (no normalisation: normalise each
    domain on its own data at training time, see :func:`dalib.features.zscore`).
    For ``logmel`` the table holds the per-band mean and standard deviation of
    the log-mel spectrogram over time (128 values with the defaults), since a
    table row must have a fixed size. ``meta`` records the corpus, root, feature
    set, sample rate, label mapping and the labels dropped (with counts).

    Micro-expression corpora (``casme2``, ``smic-hs``, ``smic-vis``,
    ``smic-nir``, ``samm``) take ``lbptop`` or ``lbpsip`` and are handled by
    :func:`dalib.data.me_corpus_to_table` with ``me_options``.

    Args:
      corpus_name: ``emodb``, ``enterface``, ``casia`` or ``iemocap``; or a
        micro-expression corpus.
      root: the corpus folder in its original layout.
      feature_set: ``is09``, ``is10``, ``egemaps``, ``compare`` or ``logmel``
        (``lbptop`` or ``lbpsip`` for micro-expression corpora).
      out: ``*.npz`` or ``*.csv``.
      sample_rate: audio is decoded at this rate (Hz).
      cache: as in :func:`dalib.features.extract`.
      logmel_options: as in :func:`dalib.features.extract`.
      me_options: options of :func:`dalib.data.me_corpus_to_table`.

    Returns:
      The :class:`FeatureTable` written.
    """
    from dalib.data._me_tables import me_corpus_key, me_corpus_to_table

    if me_corpus_key(corpus_name) is not None:
        return me_corpus_to_table(corpus_name, root, feature_set, out, **dict(me_options or {}))
    from dalib.data import read_corpus
    from dalib.features import canonical_feature_set, extract

    corpus = read_corpus(corpus_name, root)
    name = canonical_feature_set(feature_set)
    matrix = extract(
        corpus.paths, set=name, sample_rate=sample_rate, cache=cache, logmel_options=logmel_options
    )
    meta = {
        "corpus": corpus.name,
        "root": str(corpus.root),
        "feature_set": name,
        "sample_rate": sample_rate,
        "label_names": list(corpus.label_names),
        "label_map": dict(corpus.label_map),
        "dropped": dict(corpus.dropped),
    }
    if name == "logmel":
        meta["logmel_options"] = dict(logmel_options or {})
        meta["pooling"] = "per-band mean then std over frames"
    save_table(
        out,
        matrix.values,
        corpus.labels,
        speakers=corpus.speakers,
        files=corpus.files,
        feature_names=matrix.names,
        meta=meta,
    )
    return load_table(out)
