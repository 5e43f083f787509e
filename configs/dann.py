"""DANN: domain-adversarial training.

dalib run --config configs/dann.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "dann"``."""
    config = default.get_config()
    config.method = "dann"
    # the method's defaults, listed here to be edited:
    config.options.weight = 1.0
    config.options.disc_hidden = (256,)
    return config
