"""Alignment losses: pure functions of arrays (``jit``/``grad``/``vmap`` safe).

Implementations live in private modules; this module re-exports them flat, one
name per line.
"""

from dalib.losses._adversarial import (
    cdan_features,
    classifier_discrepancy,
    domain_accuracy,
    domain_adversarial,
    entropy_weights,
    mdd,
    transferability_attention,
)
from dalib.losses._coral import cmd, coral
from dalib.losses._ida import ida
from dalib.losses._joint import dynamic_factor, joint_alignment
from dalib.losses._mi import (
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
from dalib.losses._mmd import mmd
from dalib.losses._mmd_joint import jmmd, lmmd
from dalib.losses._ot import OTDiagnostics, jdot, jdot_cost, sinkhorn_divergence
from dalib.losses._regularizers import bnm, entropy, mcc

__all__ = [
    "MineState",
    "OTDiagnostics",
    "bnm",
    "cdan_features",
    "classifier_discrepancy",
    "club",
    "cmd",
    "coral",
    "domain_accuracy",
    "domain_adversarial",
    "dv",
    "dynamic_factor",
    "entropy",
    "entropy_weights",
    "gaussian_log_likelihood",
    "ida",
    "infonce",
    "jdot",
    "jdot_cost",
    "jmmd",
    "joint_alignment",
    "lmmd",
    "mcc",
    "mdd",
    "mine",
    "mine_init",
    "mmd",
    "nwj",
    "sinkhorn_divergence",
    "transferability_attention",
    "vclub",
]
