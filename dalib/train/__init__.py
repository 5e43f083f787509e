"""Training: compose any encoder with any alignment terms, jitted, vmapped, sharded.

* :func:`make_trainer` builds a pure ``step(state, batch, key) -> (state, metrics)``
  from an encoder and a classifier (Flax NNX, Flax Linen, or a plain function;
  see :class:`Network`), a weighted set of alignment terms (:class:`MMD`,
  :class:`DomainAdversarial`, :class:`ConditionalAdversarial`, ...) and an optax
  optimizer.
* :class:`Batch` carries source inputs, source labels and target inputs: there
  is no field for target labels.
* :func:`train` runs a whole training as one ``lax.scan`` (``vmap`` it over seeds);
  :func:`fit` adds orbax checkpoints and resumption; :func:`data_parallel`
  shards batches over devices; :func:`evaluate` scores a target set.
"""

from dalib.train._batch import Batch, check_batch, sample_batch
from dalib.train._compile_cache import compilation_cache_dir, enable_compilation_cache
from dalib.train._evaluate import Evaluation, evaluate, predict
from dalib.train._loop import DivergenceError, check_divergence, fit, restore, run_steps, train
from dalib.train._more_terms import (
    IDA,
    CLUBSplit,
    DeepJDOT,
    DomainClassifier,
    JointAlignment,
    SinkhornDivergence,
    SliceDistance,
)
from dalib.train._network import (
    Network,
    as_network,
    from_function,
    from_linen,
    from_nnx,
)
from dalib.train._parallel import DataParallel, data_mesh, data_parallel
from dalib.train._region import RegionAdversarial
from dalib.train._terms import (
    BNM,
    CORAL,
    JMMD,
    LMMD,
    MCC,
    MMD,
    ClassifierDiscrepancy,
    ConditionalAdversarial,
    Distance,
    DomainAdversarial,
    Entropy,
    MarginDisparity,
    Outputs,
    Term,
    weight_at,
)
from dalib.train._trainer import MODES, Trainer, TrainState, make_trainer

__all__ = [
    "BNM",
    "CORAL",
    "IDA",
    "JMMD",
    "LMMD",
    "MCC",
    "MMD",
    "MODES",
    "Batch",
    "CLUBSplit",
    "ClassifierDiscrepancy",
    "ConditionalAdversarial",
    "DataParallel",
    "DeepJDOT",
    "Distance",
    "DivergenceError",
    "DomainAdversarial",
    "DomainClassifier",
    "Entropy",
    "Evaluation",
    "JointAlignment",
    "MarginDisparity",
    "Network",
    "Outputs",
    "RegionAdversarial",
    "SinkhornDivergence",
    "SliceDistance",
    "Term",
    "TrainState",
    "Trainer",
    "as_network",
    "check_batch",
    "check_divergence",
    "compilation_cache_dir",
    "data_mesh",
    "data_parallel",
    "enable_compilation_cache",
    "evaluate",
    "fit",
    "from_function",
    "from_linen",
    "from_nnx",
    "make_trainer",
    "predict",
    "restore",
    "run_steps",
    "sample_batch",
    "train",
    "weight_at",
]
