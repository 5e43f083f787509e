"""Cross-corpus experiments: protocols and methods as data, one training loop, honest scoring.

The layers, bottom up:

* :mod:`~dalib.experiment.registry` — one entry per method (family, defaults,
  description, reference, how to build it, its training
  :class:`~dalib.experiment.recipes.Recipe`); :func:`register` adds one.
* :mod:`~dalib.experiment.protocols` — a :class:`Protocol` is a value (domains,
  tasks, class sets, feature set, metrics, table sources); :data:`SER` is one.
* :class:`RunSpec` — a config unpacked once into frozen, typed sections.
* :func:`prepare_task` — a :class:`Task` whose :attr:`Task.adapt`
  (:class:`AdaptData`) holds all that fitting may see; target labels stay
  apart for :func:`score`.
* :func:`fit_method` — deep methods train through :func:`dalib.train.run_steps`;
  shallow ones through :mod:`dalib.shallow`; optional label-free selection.
* :func:`run_one`, :func:`run_pair`, :func:`run_protocol` — runs and sweeps
  with resume; :class:`ResultsTable` and :mod:`~dalib.experiment.plots`.
* :func:`predict` — a saved deep model on new rows (``dalib predict``).
* :mod:`~dalib.experiment.diagnostics` — the label-free ``diagnostics`` of
  every deep run (target prediction entropy, proxy A-distance, whether an
  adversarial game settled).

Honest evaluation by construction: the default is a fixed budget (last
checkpoint); the oracle criterion, which reads target labels, runs only when
asked for by name and is labelled ``ORACLE (target labels)`` wherever it appears.
"""

from dalib.experiment import diagnostics, recipes, registry
from dalib.experiment.config import (
    apply_overrides,
    config_hash,
    default_config,
    load_config_file,
    protocol_config,
    resolve_config,
)
from dalib.experiment.fitting import Fitted, build_trainer, fit_method
from dalib.experiment.model import Prediction, predict, save_model
from dalib.experiment.outputs import RunDir, atomic_write_text, to_jsonable
from dalib.experiment.plots import (
    plot_confusion,
    plot_curves,
    plot_region_maps,
    plot_tsne,
    tsne_embedding,
)
from dalib.experiment.protocols import (
    COMPOSITE,
    MER,
    MER_DATABASES,
    PROTOCOLS,
    SER,
    SER_CORPORA,
    SER_TASKS,
    ClassMapping,
    CorporaSpec,
    Protocol,
    ProtocolTask,
    get_protocol,
    load_protocol_tables,
    map_classes,
    register_protocol,
    ser_tasks,
)
from dalib.experiment.recipes import Recipe
from dalib.experiment.registry import DeepContext, DeepParts, Method, register
from dalib.experiment.runs import run_one, score
from dalib.experiment.spec import (
    NORMALIZE,
    ORACLE_LABEL,
    PLOT_KINDS,
    SELECTION_CRITERIA,
    TARGET_ROWS,
    RunSpec,
)
from dalib.experiment.sweep import (
    ConfigMismatchError,
    RunFailure,
    SweepResult,
    run_pair,
    run_protocol,
    write_tables,
)
from dalib.experiment.tables import ResultsTable, results_table
from dalib.experiment.task import AdaptData, Task, prepare_task, table_fingerprint

__all__ = [
    "COMPOSITE",
    "MER",
    "MER_DATABASES",
    "NORMALIZE",
    "ORACLE_LABEL",
    "PLOT_KINDS",
    "PROTOCOLS",
    "SELECTION_CRITERIA",
    "SER",
    "SER_CORPORA",
    "SER_TASKS",
    "TARGET_ROWS",
    "AdaptData",
    "ClassMapping",
    "ConfigMismatchError",
    "CorporaSpec",
    "DeepContext",
    "DeepParts",
    "Fitted",
    "Method",
    "Prediction",
    "Protocol",
    "ProtocolTask",
    "Recipe",
    "ResultsTable",
    "RunDir",
    "RunFailure",
    "RunSpec",
    "SweepResult",
    "Task",
    "apply_overrides",
    "atomic_write_text",
    "build_trainer",
    "config_hash",
    "default_config",
    "diagnostics",
    "fit_method",
    "get_protocol",
    "load_config_file",
    "load_protocol_tables",
    "map_classes",
    "plot_confusion",
    "plot_curves",
    "plot_region_maps",
    "plot_tsne",
    "predict",
    "prepare_task",
    "protocol_config",
    "recipes",
    "register",
    "register_protocol",
    "registry",
    "resolve_config",
    "results_table",
    "run_one",
    "run_pair",
    "run_protocol",
    "save_model",
    "score",
    "ser_tasks",
    "table_fingerprint",
    "to_jsonable",
    "tsne_embedding",
    "write_tables",
]
