"""The SER protocol on log-mel segments: the seed methods on their own inputs.

``data.input=logmel`` gives each utterance as 4 segments of 100 frames (1 s at
a 10 ms hop) x 64 mel bands (25 ms window); the encoder reads each segment and
averages the segments' features per utterance. ``ida`` trains DIDAN's kind of
encoder (a CNN on spectrograms), ``mi_decomposition`` the MM 2022 method's (a
Transformer on log-mel segments), ``source_only``, ``dan`` and ``dann`` the CNN.

Sized for a shared 2-core CPU: each segment averaged over 2 x 2 (frames, mels)
blocks first (50 x 32), a CNN of three blocks of 8, 16 and 32 channels and a
one-block Transformer of width 32 with 2 heads, 32-d features, 50 steps of
16 + 16 utterances, three seeds, no plots.

    dalib protocol ser --synthetic --config configs/ser_logmel.py --out runs/ser_logmel
"""

from configs import ser


def get_config():
    """Returns the log-mel SER configuration."""
    config = ser.get_config()
    config.methods = ("source_only", "ida", "mi_decomposition", "dan", "dann")
    config.data.input = "logmel"
    config.model.encoder = "auto"  # ida: cnn, mi_decomposition: transformer, others: cnn
    config.model.hidden = (32,)
    config.model.channels = (8, 16, 32)
    config.model.heads = 2
    config.model.layers = 1
    config.model.downsample = 2
    config.train.steps = 50
    config.train.batch_size = 16
    config.seeds = 3
    config.plots.kinds = ()
    return config
