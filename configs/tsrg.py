"""TSRG: target sample re-generator.

dalib run --config configs/tsrg.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "tsrg"``."""
    config = default.get_config()
    config.method = "tsrg"
    return config
