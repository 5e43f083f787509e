"""No adaptation (the deep baseline).

dalib run --config configs/source_only.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "source_only"``."""
    config = default.get_config()
    config.method = "source_only"
    return config
