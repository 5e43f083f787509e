"""Cross-corpus experiments: protocols, methods, the runner, results tables and plots.

* :func:`run_pair` — one method on one source -> target pair of feature tables,
  every seed; :func:`run_protocol` — every task of the cross-corpus SER
  protocol (B = EmoDB, E = eNTERFACE'05, C = CASIA, or their synthetic
  stand-ins) for every method and seed. Both resume interrupted sweeps.
* :data:`METHODS` — the method names of the command line (deep and shallow);
  :func:`method_defaults` their options; :func:`default_config` /
  :func:`protocol_config` the experiment configurations.
* Honest evaluation by construction: training sees a :class:`dalib.train.Batch`
  (no target labels), the default is a fixed budget (last checkpoint),
  label-free selection is optional, and oracle selection is labelled
  ``ORACLE (target labels)`` wherever it appears.
* :class:`ResultsTable`, :class:`RunDir`, :mod:`~dalib.experiment.plots`: the
  paper-style tables, the run folders, the figures.

The ``dalib`` command line (:mod:`dalib.cli`) is a thin layer over these.
"""

from dalib.experiment.config import (
    NORMALIZE,
    SELECTION_CRITERIA,
    TARGET_ROWS,
    apply_overrides,
    config_hash,
    default_config,
    load_config_file,
    protocol_config,
    resolve_config,
)
from dalib.experiment.methods import (
    DEEP_METHODS,
    METHODS,
    SHALLOW_METHODS,
    DeepModel,
    build_deep,
    check_method,
    is_deep,
    method_defaults,
    method_normalize,
    resolve_options,
)
from dalib.experiment.outputs import RunDir, atomic_write_text, to_jsonable
from dalib.experiment.plots import plot_confusion, plot_curves, plot_tsne, tsne_embedding
from dalib.experiment.protocols import (
    SER_CORPORA,
    SER_TASKS,
    ClassMapping,
    Task,
    map_classes,
    ser_tasks,
)
from dalib.experiment.runner import (
    ORACLE_LABEL,
    ConfigMismatchError,
    Fitted,
    RunFailure,
    SweepResult,
    TaskData,
    fit,
    method_label,
    prepare_task,
    run_one,
    run_pair,
    run_protocol,
    score,
    table_fingerprint,
    write_tables,
)
from dalib.experiment.tables import ResultsTable, results_table

__all__ = [
    "DEEP_METHODS",
    "METHODS",
    "NORMALIZE",
    "ORACLE_LABEL",
    "SELECTION_CRITERIA",
    "SER_CORPORA",
    "SER_TASKS",
    "SHALLOW_METHODS",
    "TARGET_ROWS",
    "ClassMapping",
    "ConfigMismatchError",
    "DeepModel",
    "Fitted",
    "ResultsTable",
    "RunDir",
    "RunFailure",
    "SweepResult",
    "Task",
    "TaskData",
    "apply_overrides",
    "atomic_write_text",
    "build_deep",
    "check_method",
    "config_hash",
    "default_config",
    "fit",
    "is_deep",
    "load_config_file",
    "map_classes",
    "method_defaults",
    "method_label",
    "method_normalize",
    "plot_confusion",
    "plot_curves",
    "plot_tsne",
    "prepare_task",
    "protocol_config",
    "resolve_config",
    "resolve_options",
    "results_table",
    "run_one",
    "run_pair",
    "run_protocol",
    "score",
    "ser_tasks",
    "table_fingerprint",
    "to_jsonable",
    "tsne_embedding",
    "write_tables",
]
