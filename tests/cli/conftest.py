"""Tiny feature tables and helpers for the command-line tests.

``TINY`` is the budget of :func:`tests.experiment.conftest.tiny_config` (one
8-unit layer, 12 steps of batch 8, curves every 4 steps, 3 checkpoints), so
in-process CLI runs on tables of 6 features with 3 shared classes reuse the
training program the experiment tests compiled.
"""

from pathlib import Path

import numpy as np
import pytest

from dalib import cli
from dalib.data import save_table

TINY = [
    "--set", "model.hidden=(8,)", "--set", "train.steps=12", "--set", "train.batch_size=8",
    "--set", "train.log_every=4", "--set", "selection.checkpoints=3",
    "--set", "plots.kinds=()", "--quiet",
]  # fmt: skip

SER_CLASSES = {
    "B": ["angry", "boredom", "disgust", "fear", "happy", "neutral", "sad"],
    "E": ["angry", "disgust", "fear", "happy", "sad", "surprise"],
    "C": ["angry", "fear", "happy", "neutral", "sad", "surprise"],
}


def make_cli_table(path, classes, *, dim=6, shift=0.0, seed=0, per_class=10, labels=True):
    """Gaussian classes around fixed centres, written to ``path`` (.npz or .csv)."""
    centres = np.random.default_rng(123).normal(scale=2.0, size=(len(classes), dim))
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(size=(per_class, dim)) for c in centres]) + shift
    names = np.repeat(classes, per_class)
    files = [f"{Path(path).stem}_{i}" for i in range(len(names))]
    if not labels:  # no `labels` key at all
        np.savez(path, features=x.astype(np.float32), files=np.asarray(files))
        return Path(path)
    return save_table(path, x.astype(np.float32), names, files=files)


def write_tables(d):
    """The tables the CLI tests share, written into the folder ``d``."""
    return {
        "S": make_cli_table(d / "src.npz", ["angry", "happy", "sad", "boredom"]),
        "T": make_cli_table(
            d / "tgt.csv", ["angry", "happy", "sad", "surprise"], shift=1.0, seed=1
        ),
        "D4": make_cli_table(d / "dim4.npz", ["angry", "sad"], dim=4),
        "X": make_cli_table(d / "other.npz", ["fear", "disgust"]),
        # SER protocol corpora with the protocol's class names
        "B": make_cli_table(d / "b.npz", SER_CLASSES["B"]),
        "E": make_cli_table(d / "e.npz", SER_CLASSES["E"], shift=1, seed=2),
        "C": make_cli_table(d / "c.npz", SER_CLASSES["C"], shift=-1, seed=3),
    }


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return write_tables(tmp_path_factory.mktemp("tables"))


def run_cli(capsys, *argv):
    """``dalib ARGV`` in this process: ``(exit status, stdout, stderr)``."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def ser_tables_arg(tables):
    return f"B={tables['B']},E={tables['E']},C={tables['C']}"
