"""Saved models: a deep run's trained network, reloaded to predict new samples.

A deep run writes ``model/`` into its folder: the parameters (an orbax
checkpoint), ``model.json`` (the resolved config, the class names, the input
size, the alignment-weight multiplier, the normalisation mode) and
``normalizer.npz`` (the target side's normalisation statistics). :func:`predict`
rebuilds the network from that, applies the same normalisation to a new
table's rows and returns class probabilities identical to the run's own for
the same rows (the same padded shapes go through the same compiled forward
pass). ``dalib predict --run DIR --table X.npz --out P.csv`` is its command line.

Shallow methods are transductive (TCA, JDA, ... fit on the very target rows
they predict) and save no model: run them again with the new rows in the
target table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

from dalib.experiment.outputs import atomic_write_text
from dalib.experiment.spec import RunSpec

__all__ = ["Prediction", "predict", "save_model"]

MODEL_DIR = "model"


def save_model(run_dir: str | Path, spec: RunSpec, task: Any, fitted: Any) -> Path:
    """Writes ``run_dir/model/``: parameters, ``model.json`` and ``normalizer.npz``."""
    import orbax.checkpoint as ocp

    path = Path(run_dir) / MODEL_DIR
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save((path / "params").resolve(), fitted.params)
        ckpt.wait_until_finished()
    transform = dict(task.transform)
    stats = {k: np.asarray(transform.pop(k)) for k in ("mean", "std") if k in transform}
    np.savez(path / "normalizer.npz", **stats)
    info = {
        "format": 1,
        "config": spec.config,
        "classes": list(task.classes),
        "in_features": int(task.adapt.source_features.shape[1]),
        "input_shape": [int(v) for v in task.adapt.source_features.shape[1:]],
        "weight_scale": float(fitted.weight_scale),
        "transform": transform,
    }
    if spec.entry.needs_groups and task.adapt.groups is not None:  # a region encoder (tann)
        info["groups"] = np.asarray(task.adapt.groups).tolist()
    atomic_write_text(path / "model.json", json.dumps(info, indent=2, default=list) + "\n")
    return path


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Class probabilities of a table's rows under a saved model.

    Attributes:
      classes: the class names (column order of ``probs``).
      files: ``[N]`` row ids (the table's ``files``, or ``row<i>``).
      probs: ``[N, C]`` class probabilities.
      predictions: ``[N]`` predicted class names.
    """

    classes: tuple[str, ...]
    files: np.ndarray
    probs: np.ndarray
    predictions: np.ndarray


def _normalise(table: Any, info: dict, stats: dict) -> np.ndarray:
    from dalib.features import Normalizer, zscore

    mode = info["transform"]["mode"]
    x = np.asarray(table.features, dtype=np.float32)
    if mode == "none":
        return x
    if x.ndim > 2:  # log-mel segments: per mel band, as in training (dalib.experiment.task)
        per_row = int(np.prod(x.shape[1:-1]))
        flat = x.reshape(-1, x.shape[-1])
        ids = {k: getattr(table, k) for k in ("speakers", "subjects")}
        rows = dataclasses.replace(
            table,
            features=flat,
            **{k: None if v is None else np.repeat(v, per_row) for k, v in ids.items()},
        )
        return _normalise(rows, info, stats).reshape(x.shape)
    if mode == "speaker":
        ids = table.speakers if table.speakers is not None else table.subjects
        if ids is None:
            raise ValueError(
                "this model normalises each speaker on its own (data.normalize=speaker), but the "
                "table has no `speakers` or `subjects` column; add one"
            )
        return zscore(x, ids)
    norm = Normalizer(
        means={"__all__": stats["mean"]},
        stds={"__all__": stats["std"]},
        eps=float(info["transform"]["eps"]),
    )
    return norm.transform(x)


def predict(run_dir: str | os.PathLike, table: Any) -> Prediction:
    """Predicts the rows of ``table`` with the model a deep run saved.

    Args:
      run_dir: a run's folder (holding ``model/``), e.g. ``runs/x/dann/seed_0``.
      table: a :class:`dalib.data.FeatureTable` (labels are not needed).

    Returns:
      A :class:`Prediction`.

    Raises:
      FileNotFoundError: ``run_dir`` holds no saved model.
      ValueError: the table's feature size differs from the model's.
    """
    import orbax.checkpoint as ocp

    from dalib.experiment.fitting import _pad, _program

    path = Path(run_dir) / MODEL_DIR
    if not (path / "model.json").is_file():
        raise FileNotFoundError(
            f"{run_dir} holds no saved model ({path}/model.json is missing): point --run at the "
            "seed folder of a finished deep run of `dalib run` (shallow methods are transductive "
            "and save none)"
        )
    info = json.loads((path / "model.json").read_text(encoding="utf-8"))
    with np.load(path / "normalizer.npz") as f:
        stats = {k: f[k] for k in f.files}
    shape = tuple(info.get("input_shape", [info["in_features"]]))
    if tuple(table.features.shape[1:]) != shape:
        d, got = (s[0] if len(s) == 1 else s for s in (shape, tuple(table.features.shape[1:])))
        raise ValueError(
            f"the model was trained on {d} features per row, the table has "
            f"{got}; extract its features with the same feature set"
        )
    spec = RunSpec.from_config(info["config"])
    classes = tuple(info["classes"])
    program = _program(spec, shape, len(classes), float(info["weight_scale"]), info.get("groups"))
    abstract = jax.eval_shape(program.init, jax.random.key(0)).params
    with ocp.StandardCheckpointer() as ckpt:
        params = ckpt.restore((path / "params").resolve(), abstract)
    x = _normalise(table, info, stats)
    _, logits = program.forward(params, _pad(x))
    probs = np.asarray(jax.nn.softmax(logits[: len(x)], axis=-1))
    files = table.files if table.files is not None else np.array([f"row{i}" for i in range(len(x))])
    return Prediction(
        classes=classes,
        files=np.asarray(files).astype(str),
        probs=probs,
        predictions=np.asarray(classes)[probs.argmax(axis=1)],
    )
