"""The README's main job (``bash dev.sh main``): the SER protocol on the synthetic corpora.

Source-only baselines (the deep MLP, the same MLP on per-corpus normalised
features, a linear SVM), TCA, and the standard deep domain-adaptation
baselines with DJDA and the Sinkhorn divergence, three seeds, the default label-free protocol
(fixed budget, last checkpoint). Confusion matrices and training curves for
every run of seed 0; no t-SNE (it would cost minutes here: ``dalib run`` draws it).
"""

from configs import ser


def get_config():
    """Returns the configuration of ``python -m experiments.main``."""
    config = ser.get_config()
    config.methods = (
        "source_only", "corpus_norm", "svm", "tca", "dan", "jan", "dann", "cdan", "dsan",
        "deep_coral", "djda", "sinkhorn",
    )  # fmt: skip
    config.seeds = 3
    config.plots.kinds = ("confusion", "curves")
    config.plots.seeds = 1  # plots of seed 0 only: drawing them is ~20 % of the job
    return config
