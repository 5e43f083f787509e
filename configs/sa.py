"""SA: subspace alignment.

dalib run --config configs/sa.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "sa"``."""
    config = default.get_config()
    config.method = "sa"
    return config
