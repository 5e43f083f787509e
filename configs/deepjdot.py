"""DeepJDOT: joint feature/label optimal transport.

dalib run --config configs/deepjdot.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "deepjdot"``."""
    config = default.get_config()
    config.method = "deepjdot"
    # the method's defaults, listed here to be edited:
    config.options.alpha = 1.0
    config.options.lam = 1.0
    return config
