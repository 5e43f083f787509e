"""MCD: maximum classifier discrepancy.

dalib run --config configs/mcd.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "mcd"``."""
    config = default.get_config()
    config.method = "mcd"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
