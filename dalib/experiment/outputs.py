"""Run directories: what a run writes, written so that nothing half-done passes.

Each run writes into its own directory ``config.json``, ``metrics.json``,
``predictions.csv`` and its plots; every file is written to a temporary name
and renamed into place, and the marker ``COMPLETE`` is written last. A sweep
that is interrupted and started again skips directories that have the marker
and redoes the others from scratch.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RunDir", "atomic_write_text", "to_jsonable"]

MARKER = "COMPLETE"


def to_jsonable(obj: Any) -> Any:
    """Converts NumPy/JAX scalars and arrays (recursively) into JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "to_dict"):  # ml_collections.ConfigDict
        return to_jsonable(obj.to_dict())
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return np.asarray(obj).tolist()
    return obj


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class RunDir:
    """The output directory of one run (one method, task and seed)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def is_complete(self) -> bool:
        """True when the run finished and wrote all its outputs."""
        return (self.path / MARKER).exists()

    def start(self) -> None:
        """Clears what an interrupted attempt left and creates the directory."""
        if self.path.exists() and not self.is_complete():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def write_json(self, name: str, obj: Any) -> Path:
        return atomic_write_text(self.path / name, json.dumps(to_jsonable(obj), indent=2) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_predictions(
        self,
        files: Sequence[str],
        true_labels: Sequence[str],
        pred_labels: Sequence[str],
        probs: np.ndarray,
        classes: Sequence[str],
        *,
        prefix: str = "p_",
    ) -> Path:
        """``predictions.csv``: file, true label, predicted label, class probabilities.

        ``prefix`` names the score columns: ``p_<class>`` for probabilities,
        e.g. ``score_<class>`` for an SVM's decision values.
        """
        import io

        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["file", "true", "predicted", *(f"{prefix}{c}" for c in classes)])
        for f, t, p, row in zip(files, true_labels, pred_labels, np.asarray(probs), strict=True):
            writer.writerow([f, t, p, *(f"{v:.6f}" for v in row)])
        return atomic_write_text(self.path / "predictions.csv", buf.getvalue())

    def finish(self) -> None:
        """Marks the run complete; call after every other file is written."""
        atomic_write_text(self.path / MARKER, "ok\n")
