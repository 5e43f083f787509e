"""Default configuration of the cross-corpus SER protocol (``dalib protocol ser``).

Six tasks B->E, E->B, B->C, C->B, E->C, C->E on the synthetic corpora unless
``--root`` / ``--tables`` point at real ones; fixed training budget, last
checkpoint (no target labels), three seeds.
"""

from dalib.experiment import protocol_config


def get_config():
    """Returns the SER protocol configuration."""
    return protocol_config()
