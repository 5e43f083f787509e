"""CDAN: conditional adversarial.

dalib run --config configs/cdan.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "cdan"``."""
    config = default.get_config()
    config.method = "cdan"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
