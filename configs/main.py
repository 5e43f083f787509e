"""The README's main job (``bash dev.sh main``): the SER protocol on the synthetic corpora.

Source-only baselines (deep MLP and linear SVM) and a handful of domain
adaptation methods, three seeds, the default label-free protocol (fixed budget,
last checkpoint). t-SNE plots only for the first seed of each run folder's
method/task would cost minutes; they are drawn for seed 0 of the first task.
"""

from configs import ser


def get_config():
    """Returns the configuration of ``python -m experiments.main``."""
    config = ser.get_config()
    config.methods = ("source_only", "dan", "dann", "cdan", "dsan", "deep_coral", "svm", "tca")
    config.seeds = 3
    return config
