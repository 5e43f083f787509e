"""DSAN: local (class-conditional) MMD.

dalib run --config configs/dsan.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "dsan"``."""
    config = default.get_config()
    config.method = "dsan"
    # the method's defaults, listed here to be edited:
    config.options.weight = 0.5
    return config
