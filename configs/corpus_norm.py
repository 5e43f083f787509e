"""Corpus normalisation: the source-only MLP on features z-normalised per corpus.

Each corpus is standardised with its own mean and standard deviation (Schuller
et al. 2010), which aligns the first two moments of every feature across the
domains: the cheapest adaptation baseline that a deep method must beat.

dalib run --config configs/corpus_norm.py --source S.npz --target T.npz
"""

from configs import default


def get_config():
    """Returns the default run configuration with ``method = "corpus_norm"``."""
    config = default.get_config()
    config.method = "corpus_norm"
    return config
