"""MDD: margin disparity discrepancy.

dalib run --config configs/mdd.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "mdd"``."""
    config = default.get_config()
    config.method = "mdd"
    # the method's defaults, listed here to be edited:
    config.options.margin = 4.0
    return config
