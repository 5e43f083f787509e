"""Default configuration of a single run (``dalib run``): every field, with its default.

The defaults live in :func:`dalib.experiment.default_config` so that an
installed ``dalib`` works without this folder; this file is the starting point
for your own variants::

    from configs import default

    def get_config():
        config = default.get_config()
        config.method = "dann"
        config.train.steps = 2000
        return config

Use it as ``dalib run --config configs/default.py --source S.npz --target T.npz``.
"""

from dalib.experiment import default_config


def get_config():
    """Returns the default run configuration (method ``source_only``)."""
    return default_config()
