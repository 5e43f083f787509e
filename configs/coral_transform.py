"""CORAL feature transform.

dalib run --config configs/coral_transform.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "coral_transform"``."""
    config = default.get_config()
    config.method = "coral_transform"
    return config
