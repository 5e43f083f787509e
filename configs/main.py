"""The SER part of the README's main job (``bash dev.sh main``).

Source-only baselines (the deep MLP, the same MLP on per-corpus normalised
features, a linear SVM), TCA, and two standard deep domain-adaptation methods
(DAN, DSAN), three seeds, the default label-free protocol (fixed budget, last
checkpoint); the shallow methods, deterministic, run one seed. Confusion
matrices and training curves for seed 0. The full 23-method table is
``configs/ser.py`` with ``--methods`` (docs/experiments.md).
"""

from configs import ser


def get_config():
    """Returns the configuration of the SER part of ``python -m experiments.main``."""
    config = ser.get_config()
    config.methods = ("source_only", "corpus_norm", "svm", "tca", "dan", "dsan")
    config.seeds = 3
    config.shallow_seeds = 1
    config.plots.kinds = ("confusion", "curves")
    config.plots.seeds = 1  # plots of seed 0 only
    return config
