"""Flax NNX modules: encoders, discriminators, critics and posteriors.

Modules only produce arrays (logits, score matrices, Gaussian parameters); the
losses in :mod:`dalib.losses` stay pure functions of those arrays.
"""

from dalib.nn._critics import GaussianPosterior, MICritic
from dalib.nn._discriminators import DomainDiscriminator, RegionDiscriminators
from dalib.nn._encoders import MLPEncoder, SegmentTransformer, SpectrogramCNN
from dalib.nn._tann import RegionAttentionEncoder

__all__ = [
    "DomainDiscriminator",
    "GaussianPosterior",
    "MICritic",
    "MLPEncoder",
    "RegionAttentionEncoder",
    "RegionDiscriminators",
    "SegmentTransformer",
    "SpectrogramCNN",
]
