"""Invariant/specific feature split (MMD, CLUB, domain classifier).

dalib run --config configs/mi_decomposition.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "mi_decomposition"``."""
    config = default.get_config()
    config.method = "mi_decomposition"
    # the method's defaults, listed here to be edited:
    config.options.club_weight = 0.1
    return config
