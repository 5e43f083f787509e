"""Experiment configurations: defaults, ``--set key=value`` overrides, validation.

A run is described by one :class:`ml_collections.ConfigDict` (the flax-examples
convention): :func:`default_config` holds every field with its default;
``configs/*.py`` files import it and override a few fields; the command line
overrides single fields with ``--set model.hidden=(128,64)``. Method-specific
options live under ``options`` and are merged with the method's defaults by
:func:`resolve_config`, which also checks every value. The resolved config is
what a run writes to ``config.json`` and what identifies it on resume.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ml_collections

from dalib.experiment.spec import NORMALIZE, PLOT_KINDS, SELECTION_CRITERIA, TARGET_ROWS, RunSpec

__all__ = [
    "NORMALIZE",
    "PLOT_KINDS",
    "SELECTION_CRITERIA",
    "TARGET_ROWS",
    "apply_overrides",
    "config_hash",
    "default_config",
    "load_config_file",
    "protocol_config",
    "resolve_config",
]


def default_config() -> ml_collections.ConfigDict:
    """Every field of a single-pair run (``dalib run``), with its default.

    Returns:
      A ``ConfigDict``:

      * ``method``: a registered method (``dalib methods``, :mod:`dalib.experiment.registry`).
      * ``save_model``: deep runs save their trained model into ``model/`` for
        ``dalib predict`` (default on for single runs, off in protocol sweeps).
      * ``seeds`` / ``first_seed``: seeds ``first_seed .. first_seed + seeds - 1``.
      * ``data``: ``normalize`` (:data:`NORMALIZE`), ``target_rows``
        (:data:`TARGET_ROWS`), ``classes`` (restrict to these class names;
        empty: the classes both tables share), ``input`` (``features``: the
        feature table; ``logmel``: log-mel segments per utterance, SER protocols
        and deep methods only; see :mod:`dalib.experiment.encoders`).
      * ``model``: the encoder of the deep methods: ``encoder`` (``auto``: the
        MLP on feature vectors and, on log-mel input, the CNN, or the
        Transformer for ``mi_decomposition``; or ``mlp``, ``cnn``,
        ``transformer``), ``hidden`` (the MLP's layers; the last is every
        encoder's output size), ``dropout``, ``channels`` (the CNN's blocks),
        ``heads`` and ``layers`` (the Transformer's), ``downsample`` (average
        each ``k x k`` block of a log-mel segment first).
      * ``train``: fixed budget of the deep methods (``steps``, ``batch_size``,
        ``recipe``: ``"method"`` (each method's training recipe, see
        :mod:`dalib.experiment.recipes`) or a recipe name forced on every method,
        ``learning_rate``, ``weight_decay`` (``None``: the recipe's; a number
        overrides it), ``ramp``: the DANN warm-up on (where the recipe puts it:
        the alignment weights or the gradient reversal), ``ramp_gamma``;
        ``log_every`` for the curves;
        ``vmap_seeds``: train the seeds of a method and task as one vmapped
        program, which is faster but equals separate runs only up to float
        round-off, which training can amplify into different predictions).
      * ``options``: method options overriding the method's defaults (see
        :func:`dalib.experiment.method_defaults`).
      * ``selection``: ``criterion`` (:data:`SELECTION_CRITERIA`),
        ``checkpoints`` (evenly spaced candidates along training), ``grid``
        (multipliers of the alignment weights, empty: the default only),
        ``validation_fraction`` (source rows held out for IWV/DEV).
      * ``plots``: ``kinds`` to draw, ``seeds`` (draw them for the first k
        seeds of a run only; 0: every seed), ``tsne_seeds`` (t-SNE for the first
        k seeds only: it is the slow one), ``tsne_max_points``.

    Examples:
      >>> config = default_config()
      >>> config.method, config.selection.criterion, config.train.steps
      ('source_only', 'last', 1000)
    """
    c = ml_collections.ConfigDict()
    c.method = "source_only"
    c.save_model = True  # deep runs save their model (dalib predict)
    c.seeds = 3
    c.first_seed = 0
    c.data = ml_collections.ConfigDict(
        {"normalize": "pooled", "target_rows": "all", "classes": (), "input": "features"}
    )
    c.model = ml_collections.ConfigDict(
        {
            "hidden": (256, 128),
            "dropout": 0.1,
            "encoder": "auto",
            "channels": (16, 32, 64),
            "heads": 4,
            "layers": 2,
            "downsample": 1,
        }
    )
    c.train = ml_collections.ConfigDict(
        {
            "steps": 1000,
            "batch_size": 64,
            "recipe": "method",
            "learning_rate": None,  # None: the recipe's (dalib.experiment.recipes)
            "weight_decay": None,
            "ramp": True,
            "ramp_gamma": 10.0,
            "log_every": 10,
            "vmap_seeds": False,
        }
    )
    c.options = ml_collections.ConfigDict()
    c.selection = ml_collections.ConfigDict(
        {"criterion": "last", "checkpoints": 5, "grid": (), "validation_fraction": 0.2}
    )
    c.plots = ml_collections.ConfigDict(
        {"kinds": PLOT_KINDS, "seeds": 0, "tsne_seeds": 1, "tsne_max_points": 600}
    )
    return c


def protocol_config() -> ml_collections.ConfigDict:
    """:func:`default_config` plus the fields of a protocol sweep (``dalib protocol``).

    Adds ``protocol`` (``"ser"``, ``"mer"``, ``"composite"``), ``methods`` (rows
    of the table), ``shallow_seeds`` (``k > 0``: the shallow methods, which do
    not depend on the seed beyond their solver's start, run the first ``k``
    seeds only; 0: every seed), ``tasks``
    (empty: all six), ``corpora`` (``synthetic``, ``root``, ``tables``,
    ``feature_set``, ``synth_root``, ``synth_seed``: the build seed of the
    synthetic corpora; build 0 lives in ``synth_root`` itself, build ``k`` in
    ``synth_root/seed_k``). ``method`` is ignored by a sweep.

    Examples:
      >>> protocol_config().methods
      ('source_only', 'dan', 'dann', 'dsan', 'deep_coral', 'svm', 'tca')
    """
    c = default_config()
    c.data.target_rows = "shared"  # the published protocols' closed-set convention
    c.save_model = False
    c.protocol = "ser"
    c.shallow_seeds = 0  # > 0: shallow methods (deterministic) run the first k seeds only
    c.methods = ("source_only", "dan", "dann", "dsan", "deep_coral", "svm", "tca")
    c.tasks = ()
    c.corpora = ml_collections.ConfigDict(
        {
            "synthetic": True,
            "root": "",
            "tables": "",
            "feature_set": "",  # "": the protocol's (is09 for ser, lbptop for mer)
            "synth_root": "",
            "synth_seed": 0,
        }
    )
    return c


# ------------------------------------------------------------------ files and overrides


def load_config_file(path: str | Path) -> ml_collections.ConfigDict:
    """Loads ``get_config()`` from a Python config file.

    The file's folder and its parent are put on ``sys.path`` while it is
    imported, so ``from configs import default`` works in files under
    ``configs/``.

    Raises:
      FileNotFoundError: no such file.
      ValueError: the file has no ``get_config()`` or it does not return a ConfigDict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist.")
    added = [str(path.resolve().parent), str(path.resolve().parent.parent)]
    sys.path[:0] = added
    try:
        spec = importlib.util.spec_from_file_location(f"_dalib_config_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ValueError(
            f"config file {path} has a syntax error at line {err.lineno}: {err.msg}: "
            f"{(err.text or '').strip()!r}"
        ) from None
    except Exception as err:
        raise ValueError(
            f"config file {path} failed while loading: {type(err).__name__}: {err}"
        ) from err
    finally:
        for entry in added:
            sys.path.remove(entry)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {path} defines no get_config() function.")
    config = module.get_config()
    if not isinstance(config, ml_collections.ConfigDict):
        raise ValueError(
            f"get_config() of {path} must return an ml_collections.ConfigDict, got "
            f"{type(config).__name__}."
        )
    return config


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string


# Fields whose default is None ("the recipe's") and whose value is a float.
_FLOAT_OR_NONE = ("train.learning_rate", "train.weight_decay")


def _coerce(old: Any, new: Any, key: str) -> Any:
    if old is None and key in _FLOAT_OR_NONE:
        return float(new) if isinstance(new, int) and not isinstance(new, bool) else new
    if old is None or new is None:
        return new
    if isinstance(old, bool):
        if not isinstance(new, bool):
            raise ValueError(f"--set {key}: expected true/false (True or False), got {new!r}.")
        return new
    if isinstance(old, float) and isinstance(new, int) and not isinstance(new, bool):
        return float(new)
    if isinstance(old, tuple):
        if isinstance(new, list | tuple):
            return tuple(new)
        if isinstance(new, str):
            return tuple(v for v in new.split(",") if v)
        return (new,)
    if isinstance(old, int) and isinstance(new, float) and new.is_integer():
        return int(new)
    if type(old) is not type(new):
        raise ValueError(
            f"--set {key}: expected a value of type {type(old).__name__} like {old!r}, got {new!r} "
            f"({type(new).__name__})."
        )
    return new


def apply_overrides(
    config: ml_collections.ConfigDict, overrides: Iterable[str]
) -> ml_collections.ConfigDict:
    """Applies ``key=value`` overrides (dotted keys) to a copy of ``config``.

    Values are Python literals (``0.5``, ``(128, 64)``, ``True``, ``'svm'``); a
    bare word is a string. Keys must exist, except under ``options`` (method
    options are checked by :func:`resolve_config`). Numbers convert between
    int and float; a comma list sets a tuple.

    Raises:
      ValueError: malformed override, unknown key, or a value of the wrong type.

    Examples:
      >>> c = apply_overrides(default_config(), ["train.steps=50", "model.hidden=(32,)"])
      >>> c.train.steps, c.model.hidden
      (50, (32,))
    """
    config = ml_collections.ConfigDict(config.to_dict())
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}.")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        node = config
        for i, part in enumerate(parts[:-1]):
            if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
                where = ".".join(parts[: i + 1])
                raise ValueError(f"--set {key}: unknown section {where!r}; known: {sorted(node)}.")
            node = node[part]
        leaf = parts[-1]
        value = _parse_value(text.strip())
        if parts[0] == "options" and len(parts) == 2:
            node[leaf] = value
            continue
        if leaf not in node:
            raise ValueError(f"--set {key}: unknown key; known keys here: {sorted(node)}.")
        if isinstance(node[leaf], ml_collections.ConfigDict):
            raise ValueError(f"--set {key}: {key!r} is a section; set one of its keys.")
        node[leaf] = _coerce(node[leaf], value, key)
    return config


# ------------------------------------------------------------------------- validation


def resolve_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Checks every field and fills ``options`` with the method's defaults.

    The typed form of the same is :meth:`dalib.experiment.RunSpec.from_config`.

    Returns:
      A new ConfigDict whose ``options`` hold every option of ``config.method``.

    Raises:
      ValueError: an unknown method, option or choice, or a value out of range,
        with the valid choices in the message.
      TypeError: an option value of the wrong type.

    Examples:
      >>> c = default_config(); c.method = "dann"
      >>> resolve_config(c).options.weight
      1.0
    """
    return ml_collections.ConfigDict(RunSpec.from_config(config).config)


def config_hash(config: ml_collections.ConfigDict | Mapping[str, Any]) -> str:
    """A short hash of everything in a config that changes a run's results."""
    return RunSpec.from_config(config).hash
