"""Frozen, typed run specifications: the config unpacked once, at the entry point.

:func:`dalib.experiment.default_config` and the ``configs/*.py`` files describe
a run as an ``ml_collections.ConfigDict``, which is easy to override. The
entry points (:func:`~dalib.experiment.run_pair`,
:func:`~dalib.experiment.run_protocol`, the command line) turn it, once, into
a :class:`RunSpec` (validated, the method's defaults filled in) and below that
every function takes plain values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import ml_collections

from dalib import _checks
from dalib.experiment import recipes, registry
from dalib.experiment.encoders import check_encoder_sizes, resolve_encoder

__all__ = [
    "NORMALIZE",
    "ORACLE_LABEL",
    "PLOT_KINDS",
    "SELECTION_CRITERIA",
    "TARGET_ROWS",
    "DataSpec",
    "ModelSpec",
    "PlotSpec",
    "RunSpec",
    "SelectionSpec",
    "TrainSpec",
    "describe_selection",
]

#: Label-free z-normalisation of the features. ``pooled`` (default): one affine
#: map for both domains from the statistics of source and target together
#: (scales the features, aligns nothing); ``source``: the source's statistics
#: for both; ``domain``: each table with its own statistics, and ``speaker``:
#: each speaker (or subject) of each table with its own (these two already
#: align the domains' first two moments per feature: an adaptation in
#: themselves); ``none``: raw values.
NORMALIZE = ("pooled", "source", "domain", "speaker", "none")
#: Which target rows the adaptation sees: ``shared``: the labelled rows of the
#: shared classes (the published protocols' closed-set convention); ``all``:
#: every row (nothing about the target is selected by label; scoring still
#: uses the labelled rows of the shared classes only).
TARGET_ROWS = ("shared", "all")
#: ``last`` = fixed budget, last checkpoint (the default); label-free criteria of
#: :mod:`dalib.selection`; ``oracle`` reads target labels and is labelled so.
SELECTION_CRITERIA = ("last", "iwv", "dev", "snd", "entropy", "oracle")
PLOT_KINDS = ("tsne", "confusion", "curves")
ORACLE_LABEL = "ORACLE (target labels)"

# Fields that do not change what one run computes (excluded from its identity).
_NOT_IN_HASH = (
    "seeds",
    "first_seed",
    "plots",
    "methods",
    "tasks",
    "protocol",
    "corpora",
    "save_model",
)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    normalize: str
    target_rows: str
    classes: tuple[str, ...]
    input: str = "features"  # or "logmel" (dalib.experiment.encoders)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    hidden: tuple[int, ...]
    dropout: float
    encoder: str = "mlp"  # resolved: mlp, cnn or transformer (dalib.experiment.encoders)
    channels: tuple[int, ...] = (16, 32, 64)  # the CNN's blocks
    heads: int = 4  # the Transformer's heads and blocks
    layers: int = 2
    downsample: int = 1  # average k x k (frames, mels) blocks before the log-mel encoder


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    steps: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    ramp: bool
    ramp_gamma: float
    log_every: int
    vmap_seeds: bool = False
    recipe: recipes.Recipe = recipes.ADAMW


@dataclasses.dataclass(frozen=True)
class SelectionSpec:
    criterion: str
    checkpoints: int
    grid: tuple[float, ...]
    validation_fraction: float


@dataclasses.dataclass(frozen=True)
class PlotSpec:
    kinds: tuple[str, ...]
    seeds: int
    tsne_seeds: int
    tsne_max_points: int


def _c(name: str):
    """Prefixes validation messages with ``config``."""
    return f"config {name}"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One method's runs, fully resolved: what every function below the entry point takes.

    Attributes:
      method: the registered method name.
      options: its options, defaults filled in.
      seeds: the seeds to run.
      data, model, train, selection, plots: the typed sections of the config.
      config: the resolved config as a plain dict (written to ``config.json``).
    """

    method: str
    options: Mapping[str, Any]
    seeds: tuple[int, ...]
    data: DataSpec
    model: ModelSpec
    train: TrainSpec
    selection: SelectionSpec
    plots: PlotSpec
    config: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict | Mapping[str, Any]) -> RunSpec:
        """Validates ``config`` (every field, the method's options) and unpacks it.

        Raises:
          ValueError: an unknown method, option or choice, or a value out of range,
            with the valid choices in the message.
          TypeError: an option value of the wrong type.

        Examples:
          >>> from dalib.experiment import default_config
          >>> c = default_config(); c.method = "dann"
          >>> spec = RunSpec.from_config(c)
          >>> spec.options["weight"], spec.train.steps, spec.deep
          (1.0, 1000, True)
        """
        c = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
        method = registry.get(c["method"])
        seeds = _checks.check_positive_int(c["seeds"], _c("seeds"))
        first = _checks.check_positive_int(c["first_seed"], _c("first_seed"), allow_zero=True)
        d, m, t, s, p = c["data"], c["model"], c["train"], c["selection"], c["plots"]
        normalize = _checks.check_choice(d["normalize"], _c("data.normalize"), NORMALIZE)
        data = DataSpec(
            normalize=method.normalize or normalize,
            target_rows=_checks.check_choice(d["target_rows"], _c("data.target_rows"), TARGET_ROWS),
            classes=tuple(str(x) for x in d["classes"]),
            input=d.get("input", "features"),
        )
        hidden = tuple(m["hidden"])
        if not hidden or any(not isinstance(h, int) or h < 2 for h in hidden):
            raise ValueError(f"config model.hidden must be layer sizes >= 2, got {hidden!r}.")
        encoder = resolve_encoder(method, data.input, m.get("encoder", "auto"))
        keys = ("channels", "heads", "layers", "downsample")
        sizes = {k: m.get(k, getattr(ModelSpec, k)) for k in keys}
        sizes["channels"] = tuple(sizes["channels"])
        check_encoder_sizes(encoder, hidden, **sizes)
        model = ModelSpec(
            hidden,
            _checks.check_number(m["dropout"], _c("model.dropout"), low=0.0, high=0.95),
            encoder,
            **sizes,
        )
        pos = _checks.check_positive_int
        recipe = _recipe(method, t.get("recipe", "method"))
        lr, wd = t.get("learning_rate"), t.get("weight_decay")
        train = TrainSpec(
            steps=pos(t["steps"], _c("train.steps")),
            batch_size=pos(t["batch_size"], _c("train.batch_size")),
            learning_rate=recipe.learning_rate
            if lr is None
            else _checks.check_positive(lr, _c("train.learning_rate")),
            weight_decay=recipe.weight_decay
            if wd is None
            else _checks.check_positive(wd, _c("train.weight_decay"), allow_zero=True),
            ramp=bool(t["ramp"]),
            ramp_gamma=_checks.check_positive(t["ramp_gamma"], _c("train.ramp_gamma")),
            log_every=pos(t["log_every"], _c("train.log_every")),
            vmap_seeds=bool(t.get("vmap_seeds", False)),
            recipe=recipe,
        )
        grid = tuple(_checks.check_positive(g, _c("selection.grid entries")) for g in s["grid"])
        selection = SelectionSpec(
            criterion=_checks.check_choice(
                s["criterion"], _c("selection.criterion"), SELECTION_CRITERIA
            ),
            checkpoints=pos(s["checkpoints"], _c("selection.checkpoints")),
            grid=grid,
            validation_fraction=_checks.check_number(
                s["validation_fraction"],
                _c("selection.validation_fraction"),
                low=0.0,
                high=0.5,
                low_inclusive=False,
            ),
        )
        for kind in p["kinds"]:
            _checks.check_choice(kind, _c("plots.kinds entry"), PLOT_KINDS)
        plots = PlotSpec(
            kinds=tuple(p["kinds"]),
            seeds=pos(p["seeds"], _c("plots.seeds"), allow_zero=True),
            tsne_seeds=pos(p["tsne_seeds"], _c("plots.tsne_seeds"), allow_zero=True),
            tsne_max_points=pos(p["tsne_max_points"], _c("plots.tsne_max_points")),
        )
        options = registry.resolve_options(method.name, c.get("options") or {})
        resolved = {
            **c,
            "data": {
                **d,
                "normalize": data.normalize,
                "classes": data.classes,
                "input": data.input,
            },
            "model": {**m, "encoder": encoder, **sizes},
            "train": _resolved_train(t, method, train),
            "selection": {**s, "grid": grid},
            "options": options,
        }
        return cls(
            method=method.name,
            options=options,
            seeds=tuple(range(first, first + seeds)),
            data=data,
            model=model,
            train=train,
            selection=selection,
            plots=plots,
            config=resolved,
        )

    @property
    def entry(self) -> registry.Method:
        """The method's registry entry."""
        return registry.get(self.method)

    @property
    def deep(self) -> bool:
        return self.entry.deep

    @property
    def hash(self) -> str:
        """A short hash of everything that changes a run's results (its identity on resume).

        The config (resolved options, the recipe's values), plus the method's
        :attr:`~dalib.experiment.registry.Method.revision` when it is not 0.
        """
        data = {k: v for k, v in self.config.items() if k not in _NOT_IN_HASH}
        if self.entry.revision:
            data["method_revision"] = self.entry.revision
        text = json.dumps(_without_idle_defaults(data), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """The row name in the results tables (oracle-selected rows say so)."""
        criterion = self.selection.criterion
        if not self.deep or criterion == "last":
            return self.method
        if criterion == "oracle":
            return f"{self.method} [{ORACLE_LABEL}]"
        return f"{self.method} [sel: {criterion}]"

    @property
    def selection_label(self) -> str:
        """How this method's model is selected, in words."""
        if not self.deep:
            return "fixed defaults (shallow method, no selection)"
        return describe_selection(self.selection.criterion)


def _resolved_train(t: Mapping[str, Any], method: registry.Method, train: TrainSpec) -> dict:
    """The train section with the recipe's values filled in.

    A method whose own recipe is the house one, run with it, records no
    ``recipe`` key, so it keeps the identity (hash) it had before recipes
    existed and its finished runs resume as complete. Other recipes record
    their name and their values (``recipe_values``).
    """
    out = {**t, "learning_rate": train.learning_rate, "weight_decay": train.weight_decay}
    out["recipe"] = train.recipe.name
    if train.recipe is recipes.ADAMW and method.recipe is recipes.ADAMW:
        del out["recipe"]
    else:
        # The recipe's values, not just its name: a run made with other values
        # (an older MDD decay, say) is not resumed as if it were this one.
        out["recipe_values"] = train.recipe.values()
    return out


def _recipe(method: registry.Method, name: Any) -> recipes.Recipe:
    """``train.recipe``: ``"method"`` (the method's own recipe) or a recipe name."""
    if name == "method":
        return method.recipe
    if not isinstance(name, str) or name not in recipes.RECIPES:
        raise ValueError(
            f"config train.recipe must be 'method' (each method's own recipe) or one of "
            f"{sorted(recipes.RECIPES)}, got {name!r}."
        )
    recipe = recipes.RECIPES[name]
    if recipe.steps == "mcd" and method.name != "mcd" and method.deep:
        raise ValueError(
            f"config train.recipe={name!r} is MCD's step structure and needs method 'mcd', "
            f"got {method.name!r}; use train.recipe='method'."
        )
    return recipe
def _without_idle_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` less the input and encoder fields that do not change a run.

    Feature-vector input and its MLP leave ``data.input``, ``model.encoder`` and
    the CNN/Transformer sizes unused, so runs made before these fields existed
    keep their identity.
    """
    data, model = dict(config.get("data", {})), dict(config.get("model", {}))
    if data.get("input", "features") == "features":
        data.pop("input", None)
    if model.get("encoder", "mlp") == "mlp":
        for key in ("encoder", "channels", "heads", "layers", "downsample"):
            model.pop(key, None)
    return {**config, "data": data, "model": model}


def describe_selection(criterion: str) -> str:
    """How a deep method's model is selected under ``criterion``, in words."""
    if criterion == "last":
        return "fixed budget, last checkpoint (no target labels)"
    if criterion == "oracle":
        return f"{ORACLE_LABEL}: best checkpoint/weight by target accuracy"
    return f"label-free selection by {criterion.upper()} (no target labels)"
