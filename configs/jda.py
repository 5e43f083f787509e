"""JDA: joint distribution adaptation.

dalib run --config configs/jda.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "jda"``."""
    config = default.get_config()
    config.method = "jda"
    return config
