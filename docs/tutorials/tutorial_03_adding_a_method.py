r"""
Adding a method: one registry entry
===================================

Every method of ``dalib run`` and ``dalib protocol`` is one entry of the
method registry (:mod:`dalib.experiment.registry`): its family, its default
options (typed by their defaults), a description, the reference it follows
and a ``build`` function. This tutorial adds *entropy minimisation*
(Grandvalet & Bengio 2005: the source cross-entropy plus the mean entropy of
the target predictions) and runs it against ``source_only`` — with no other
change anywhere.
"""

# %%
# 1. The entry
# ------------
# A deep method's ``build(ctx)`` returns its alignment terms (any
# :class:`dalib.train.Term`). ``ctx.options`` holds the resolved options,
# ``ctx.weight`` applies the warm-up ramp (and the selection grid's
# multiplier) to a weight, ``ctx.feature_dim`` and ``ctx.num_classes`` size
# any network a term owns.
import tempfile
from pathlib import Path

import numpy as np

from dalib.data import FeatureTable
from dalib.experiment import default_config, registry, run_pair
from dalib.train import Entropy


def build_entmin(ctx: registry.DeepContext) -> registry.DeepParts:
    return registry.DeepParts(terms=(Entropy(weight=ctx.weight(ctx.options["weight"])),))


registry.register(
    registry.Method(
        name="entmin",
        family="deep",
        description="entropy minimisation on the target predictions",
        reference="Grandvalet & Bengio 2005, NeurIPS",
        defaults={"weight": 0.1},
        build=build_entmin,
    ),
    replace=True,  # running this page twice in one process redefines it
)
print(registry.get("entmin"))

# %%
# 2. Two small feature tables
# ---------------------------
# Three Gaussian classes; the target domain is shifted and rescaled, and its
# labels are kept only for scoring.
rng = np.random.default_rng(0)
centres = rng.normal(scale=2.0, size=(3, 8))


def table(shift: float, scale: float, n: int, seed: int) -> FeatureTable:
    r = np.random.default_rng(seed)
    y = r.integers(0, 3, n)
    x = (centres[y] + r.normal(size=(n, 8))) * scale + shift
    return FeatureTable(features=x.astype(np.float32), labels=np.array(["a", "b", "c"])[y])


source, target = table(0.0, 1.0, 150, 1), table(1.5, 1.6, 120, 2)

# %%
# 3. Run it like any built-in method
# ----------------------------------
# The same :func:`dalib.experiment.run_pair` (or ``dalib run --method entmin``,
# or ``dalib protocol ... --methods entmin,...``) runs it, checks its options
# (``--set options.weight=0.3``) and tabulates it.
out = Path(tempfile.mkdtemp(prefix="dalib-entmin-"))
for method in ("source_only", "entmin"):
    config = default_config()
    config.method = method
    config.seeds = 2
    config.train.steps = 300
    config.model.hidden = (32, 16)
    config.plots.kinds = ()
    result = run_pair(config, source, target, out / method, task_name="A->B", progress=False)
    print(result.tables["uar"].to_markdown().split("\n\n")[1])
