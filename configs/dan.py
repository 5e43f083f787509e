"""DAN: multi-kernel MMD.

dalib run --config configs/dan.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "dan"``."""
    config = default.get_config()
    config.method = "dan"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
