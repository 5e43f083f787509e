"""Sinkhorn divergence between feature clouds.

dalib run --config configs/sinkhorn.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "sinkhorn"``."""
    config = default.get_config()
    config.method = "sinkhorn"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
