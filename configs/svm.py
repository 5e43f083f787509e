"""Source-only linear SVM.

dalib run --config configs/svm.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "svm"``."""
    config = default.get_config()
    config.method = "svm"
    return config
