"""TCA: transfer component analysis.

dalib run --config configs/tca.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "tca"``."""
    config = default.get_config()
    config.method = "tca"
    return config
