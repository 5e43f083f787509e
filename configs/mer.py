"""The cross-database micro-expression protocol (``dalib protocol mer``).

Twelve CDMER tasks between CASME II (C) and SMIC-HS/VIS/NIR (H, V, N), three
classes, LBP-TOP (85 blocks, 15,045 features), UF1 headline. The deep methods'
MLP is sized for databases of 71-164 clips: one 128-unit and one 64-unit
layer, 300 steps of 32 + 32 clips (about 60 passes over a source database).

    dalib protocol mer --config configs/mer.py --synthetic --out runs/mer
"""

from configs import ser


def get_config():
    """Returns the CDMER protocol configuration."""
    config = ser.get_config()
    config.protocol = "mer"
    config.methods = ("source_only", "corpus_norm", "svm", "tca", "tgsr", "rstr", "dan", "dann")
    config.model.hidden = (128, 64)
    config.train.steps = 300
    config.train.batch_size = 32
    config.train.log_every = 5
    return config
