"""IDA: implicit alignment by sample reconstruction.

dalib run --config configs/ida.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "ida"``."""
    config = default.get_config()
    config.method = "ida"
    # the method's defaults, listed here to be edited:
    config.options.reg = 1.0
    return config
