"""Alignment losses: pure functions of arrays (``jit``/``grad``/``vmap`` safe).

Implementations live in private modules; this module re-exports them flat, one
name per line.
"""

from dalib.losses._adversarial import (  # noqa: F401
    cdan_features,
    classifier_discrepancy,
    domain_accuracy,
    domain_adversarial,
    entropy_weights,
    mdd,
    transferability_attention,
)
from dalib.losses._coral import cmd, coral  # noqa: F401
from dalib.losses._ida import ida  # noqa: F401
from dalib.losses._joint import dynamic_factor, joint_alignment  # noqa: F401
from dalib.losses._mi import (  # noqa: F401
    MineState,
    club,
    dv,
    gaussian_log_likelihood,
    infonce,
    mine,
    mine_init,
    nwj,
    vclub,
)
from dalib.losses._mmd import jmmd, lmmd, mmd  # noqa: F401
from dalib.losses._ot import jdot, jdot_cost, sinkhorn_divergence  # noqa: F401
from dalib.losses._regularizers import bnm, entropy, mcc  # noqa: F401
