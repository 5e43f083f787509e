"""The CDMER part of the README's main job (``bash dev.sh main``).

The twelve CDMER tasks on the synthetic micro-expression databases (LBP-TOP):
source-only baselines (MLP, per-corpus normalised MLP, linear SVM), TCA, TSRG,
the region-aware TGSR and RSTR, DAN, DSAN and DANN; three seeds for the deep
methods, one for the deterministic shallow ones; no per-run plots.
"""

from configs import mer


def get_config():
    """Returns the configuration of the CDMER part of ``python -m experiments.main``."""
    config = mer.get_config()
    config.methods = (
        "source_only", "corpus_norm", "svm", "tca", "tsrg", "tgsr", "rstr", "dan", "dsan", "dann",
    )  # fmt: skip
    config.seeds = 3
    config.shallow_seeds = 1
    config.plots.kinds = ()
    return config
