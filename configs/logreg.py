"""Source-only logistic regression.

dalib run --config configs/logreg.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "logreg"``."""
    config = default.get_config()
    config.method = "logreg"
    return config
