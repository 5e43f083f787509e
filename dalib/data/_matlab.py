"""Feature tables from MATLAB ``.mat`` files (v5 through scipy.io, v7.3 through h5py)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dalib.data._tables import FeatureTable, TableError, _validate, load_table, save_table

__all__ = ["import_mat"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(1024)
    return head[512:520] == _HDF5_MAGIC or head[:8] == _HDF5_MAGIC


# ---------------------------------------------------------------------- v5 (scipy)


def _v5_value(value: Any) -> np.ndarray:
    """A loadmat value as a plain array: cells of strings/scalars flattened in MATLAB order."""
    arr = np.asarray(value)
    if arr.dtype == object:
        items = [np.asarray(v) for v in arr.ravel(order="F")]
        flat = []
        for item in items:
            if item.dtype.kind in "US":
                flat.append("".join(str(x) for x in item.ravel().tolist()))
            elif item.size == 1:
                flat.append(item.reshape(()).item())
            else:
                raise TableError(
                    f"a cell holds an array of shape {item.shape}; only cells of strings or "
                    "scalars can be read as labels, subjects or groups."
                )
        shape = arr.shape if arr.ndim == 2 and 1 in arr.shape else (arr.size,)
        return np.array(flat).reshape(shape)
    if arr.dtype.kind == "U":
        return np.char.rstrip(arr)
    return arr


def _read_v5(path: Path, names: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    import scipy.io

    try:
        data = scipy.io.loadmat(path, chars_as_strings=True)
    except (NotImplementedError, ValueError, TypeError, OSError) as err:
        raise TableError(f"{path}: not a readable MATLAB file ({err}).") from err
    available = sorted(k for k in data if not k.startswith("__"))
    return {n: _v5_value(data[n]) for n in names if n in data}, available


# -------------------------------------------------------------------- v7.3 (HDF5)


def _h5_value(f, node) -> np.ndarray:
    import h5py

    cls = node.attrs.get("MATLAB_class", b"")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    raw = node[()]
    if cls == "char":
        # MATLAB writes column-major: HDF5 holds the transpose, chars as uint16.
        chars = np.asarray(raw).T
        if chars.ndim == 1 or chars.shape[0] == 1:
            return np.array(["".join(map(chr, chars.ravel()))]).astype(str)
        return np.array(["".join(map(chr, row)).rstrip() for row in chars])
    if cls == "cell" or (isinstance(raw, np.ndarray) and raw.dtype == h5py.ref_dtype):
        refs = np.asarray(raw).T
        items = [_h5_value(f, f[ref]) for ref in refs.ravel(order="F")]
        flat = []
        for item in items:
            if item.dtype.kind in "US" and item.size == 1:
                flat.append(str(item.reshape(())))
            elif item.size == 1:
                flat.append(item.reshape(()).item())
            else:
                raise TableError(
                    f"a cell holds an array of shape {item.shape}; only cells of strings or "
                    "scalars can be read as labels, subjects or groups."
                )
        return np.array(flat)
    return np.asarray(raw).T


def _read_v73(path: Path, names: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - part of the `me` extra
        raise ImportError(
            f"{path} is a MATLAB v7.3 (HDF5) file; reading it needs h5py "
            "(`pip install dalib-jax[me]`)."
        ) from err
    with h5py.File(path, "r") as f:
        available = sorted(k for k in f if not k.startswith("#"))
        out = {}
        for n in names:
            if n in f and isinstance(f[n], h5py.Dataset):
                out[n] = _h5_value(f, f[n])
        return out, available


# ---------------------------------------------------------------------- the table


def _vector(arr: np.ndarray, what: str, path: Path) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise TableError(f"{path}: `{what}` must be a vector, got shape {arr.shape}.")
    return arr


def _as_text(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "US":
        return arr.astype(str)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64).astype(str)
    return np.array([str(v) for v in arr.tolist()])


def _map_labels(
    labels: np.ndarray, label_names: Mapping[Any, str] | Sequence[str] | None, path: Path
) -> np.ndarray:
    if labels.dtype.kind in "US" or labels.dtype == object:
        names = _as_text(labels)
        if label_names is not None and isinstance(label_names, Mapping):
            mapping = {str(k): v for k, v in label_names.items()}
            return np.array([mapping.get(v, v) for v in names.tolist()])
        return names
    if labels.dtype.kind == "b" or labels.dtype.kind not in "iuf":
        raise TableError(f"{path}: labels of dtype {labels.dtype} are neither numbers nor text.")
    if not (np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))):
        raise TableError(f"{path}: numeric labels must be integer class codes.")
    codes = labels.astype(np.int64)
    present = sorted(set(codes.tolist()))
    if label_names is None:
        raise TableError(
            f"{path}: labels are numeric codes {present}; say which class each code is with "
            f"`label_names` (e.g. {{{', '.join(f'{c}: ...' for c in present[:3])}}}; "
            f"CLI: --label-names {','.join(f'{c}=NAME' for c in present[:3])}), so that corpora "
            "can be matched by class name."
        )
    if isinstance(label_names, Mapping):
        mapping = {int(k): str(v) for k, v in label_names.items()}
    else:
        mapping = dict(enumerate(str(v) for v in label_names))
    missing = [c for c in present if c not in mapping]
    if missing:
        raise TableError(
            f"{path}: label codes {missing} have no name in `label_names` (given for "
            f"{sorted(mapping)})."
        )
    return np.array([mapping[c] for c in codes.tolist()])


def import_mat(
    path: str | os.PathLike[str],
    *,
    features: str,
    labels: str,
    subjects: str | None = None,
    groups: str | None = None,
    files: str | None = None,
    label_names: Mapping[Any, str] | Sequence[str] | None = None,
    samples_axis: int | None = None,
    out: str | os.PathLike[str] | None = None,
) -> FeatureTable:
    r"""Reads a feature table from a MATLAB ``.mat`` file (v5/v7 or v7.3).

    Much of the CDMER literature exchanges LBP-TOP features this way (e.g.
    SMIC-VIS as a 71 x 15,045 matrix). v4-v7 files are read with
    ``scipy.io.loadmat``; v7.3 files (HDF5) with ``h5py``, undoing MATLAB's
    column-major storage (HDF5 holds the transpose of every array), decoding
    ``char`` arrays (uint16) and cell arrays of strings (object references).

    Orientation: ``features`` may be stored samples x features ``[N, D]`` or
    ``[D, N]``; the axis whose length equals the number of labels is the
    sample axis. When both axes have that length it is ambiguous and
    ``samples_axis`` (0 or 1) must say which.

    Labels: text (char matrix or cell of strings) is kept as class names
    (``label_names`` as a mapping may rename them); numeric codes need
    ``label_names``, a mapping code -> name (``{1: "negative", 2: "positive",
    3: "surprise"}``) or a sequence indexed by code (``["negative", ...]`` for
    0-based codes), because tables are matched across corpora by class name.
    ``subjects`` and ``files``: text or integers (written as text).
    ``groups``: integers, one per feature column, kept as given (0- or 1-based).

    Args:
      path: the ``.mat`` file.
      features: variable name of the feature matrix.
      labels: variable name of the label vector.
      subjects: variable name of the subject vector.
      groups: variable name of the column -> group (face block) vector.
      files: variable name of the sample id vector.
      label_names: names of numeric label codes, or renames of text labels.
      samples_axis: which axis of the stored matrix indexes samples, when
        ambiguous.
      out: if given, the table is also written there (``.npz`` or ``.csv``).

    Returns:
      :class:`~dalib.data.FeatureTable` (``meta`` names the file, its format and the variables).

    Raises:
      FileNotFoundError: no such file.
      TableError: a variable is missing (the message lists the file's
        variables), a shape does not fit, numeric labels without names.

    Examples:
      >>> import pathlib, tempfile
      >>> import numpy as np, scipy.io
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "feats.mat"
      >>> scipy.io.savemat(path, {"X": np.ones((3, 4)), "y": np.array([[1, 2, 2, 1]])})  # [D, N]
      >>> t = import_mat(path, features="X", labels="y", label_names={1: "negative", 2: "positive"})
      >>> t.features.shape, t.labels.tolist()
      ((4, 3), ['negative', 'positive', 'positive', 'negative'])
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"MATLAB file {path} does not exist.")
    wanted = {"features": features, "labels": labels}
    for key, value in (("subjects", subjects), ("groups", groups), ("files", files)):
        if value is not None:
            wanted[key] = value
    hdf5 = _is_hdf5(path)
    values, available = (_read_v73 if hdf5 else _read_v5)(path, list(wanted.values()))
    missing = [f"{k}={v!r}" for k, v in wanted.items() if v not in values]
    if missing:
        raise TableError(
            f"{path}: no variable {', '.join(missing)}; the file holds: "
            f"{', '.join(available) or '(nothing)'}."
        )
    label_vec = _vector(values[labels], "labels", path)
    n = label_vec.shape[0]
    matrix = np.asarray(values[features])
    if matrix.dtype.kind not in "iuf" or matrix.ndim != 2:
        raise TableError(
            f"{path}: `{features}` must be a numeric matrix, got dtype {matrix.dtype} and shape "
            f"{matrix.shape}."
        )
    if samples_axis is not None:
        if samples_axis not in (0, 1):
            raise ValueError(f"`samples_axis` must be 0 or 1, got {samples_axis!r}.")
        axis = samples_axis
    elif matrix.shape[0] == n and matrix.shape[1] == n:
        raise TableError(
            f"{path}: `{features}` is {matrix.shape[0]} x {matrix.shape[1]} with {n} labels: "
            "cannot tell which axis indexes samples; pass samples_axis=0 (rows are samples) or "
            "1 (columns are samples)."
        )
    elif matrix.shape[0] == n:
        axis = 0
    elif matrix.shape[1] == n:
        axis = 1
    else:
        raise TableError(
            f"{path}: `{features}` has shape {matrix.shape} but `{labels}` has {n} labels; "
            "neither axis matches."
        )
    if matrix.shape[axis] != n:
        raise TableError(
            f"{path}: axis {axis} of `{features}` {matrix.shape} does not match the {n} labels."
        )
    matrix = matrix if axis == 0 else matrix.T
    names = _map_labels(label_vec, label_names, path)
    optional = {}
    for key in ("subjects", "files"):
        if key in wanted:
            optional[key] = _as_text(_vector(values[wanted[key]], key, path))
    group_vec = None
    if "groups" in wanted:
        group_vec = _vector(values[groups], "groups", path)
    table = _validate(str(path), matrix, names, optional, None, group_vec)
    meta = {
        "source": str(path),
        "format": "MATLAB v7.3 (HDF5)" if hdf5 else "MATLAB v5",
        "variables": wanted,
        "stored_orientation": "[N, D]" if axis == 0 else "[D, N]",
    }
    table = FeatureTable(**{**table.__dict__, "meta": meta})
    if out is not None:
        save_table(
            out,
            table.features,
            table.labels,
            subjects=table.subjects,
            files=table.files,
            groups=table.groups,
            meta=meta,
        )
        return load_table(out)
    return table
