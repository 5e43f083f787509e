"""JAN: joint MMD of features and predictions.

dalib run --config configs/jan.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "jan"``."""
    config = default.get_config()
    config.method = "jan"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
