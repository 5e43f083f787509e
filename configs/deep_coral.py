"""Deep CORAL: covariance alignment.

dalib run --config configs/deep_coral.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "deep_coral"``."""
    config = default.get_config()
    config.method = "deep_coral"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
