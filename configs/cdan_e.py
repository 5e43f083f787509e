"""CDAN+E: conditional adversarial with entropy conditioning.

dalib run --config configs/cdan_e.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "cdan_e"``."""
    config = default.get_config()
    config.method = "cdan_e"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    return config
