r"""TANN's adversarial term: region- and sample-level domain discriminators in the encoder.

:class:`dalib.nn.RegionAttentionEncoder` computes its discriminators' logits
itself (they set the transferability attention of every forward pass, the
prediction included) and appends them to its output; this term reads them from
the features and returns the discriminators' cross-entropy. The gradient
reversal is inside the encoder, so the term needs no network and no
``outputs.reverse``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dalib import losses
from dalib.train._terms import Term, _flat_pair

__all__ = ["RegionAdversarial"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegionAdversarial(Term):
    r"""TANN: region-level and sample-level domain losses on logits the encoder outputs.

    The encoder output is ``[features (feature_dim), region logits (R), sample
    logit (1)]`` (:class:`dalib.nn.RegionAttentionEncoder`). With
    :math:`\ell(z_s, z_t) = \mathrm{BCE}(z_s, 1) + \mathrm{BCE}(z_t, 0)`
    (:func:`dalib.losses.domain_adversarial`, each domain averaged over its own rows),

    .. math::

        \text{value} = \frac{1}{R}\sum_{r=1}^{R} \ell(z^{(r)}_s, z^{(r)}_t)
        + \ell(z^{(g)}_s, z^{(g)}_t),

    the mean of the region discriminators' losses plus the sample-level one.
    The discriminators minimise it; the encoder, behind its gradient reversal,
    maximises it. Reports ``domain_accuracy`` (the sample-level
    discriminator's balanced accuracy), ``region_domain_accuracy`` (the mean
    over regions) and ``region_attention`` (the mean local attention weight,
    in :math:`[1, 1+\log 2]`).

    Attributes:
      feature_dim: ``d``, the width of the feature part of the encoder output.
      num_regions: ``R``.
    """

    feature_dim: int = 0
    num_regions: int = 0
    default_name = "tann"

    def __call__(self, out, params, key):
        del params, key
        fs, ft = _flat_pair(out, "features", self.name)
        d, r = int(self.feature_dim), int(self.num_regions)
        if d < 1 or r < 1 or fs.shape[1] != d + r + 1:
            raise ValueError(
                f"RegionAdversarial(feature_dim={d}, num_regions={r}) needs encoder outputs with "
                f"{d} + {r} + 1 columns (features, region logits, sample logit; see "
                f"dalib.nn.RegionAttentionEncoder), got {fs.shape[1]}."
            )
        rs, rt = fs[:, d : d + r], ft[:, d : d + r]
        gs, gt = fs[:, d + r], ft[:, d + r]
        # BCE per region, each domain averaged over its rows, then the mean over regions.
        region_loss = jnp.mean(
            jnp.mean(-jax.nn.log_sigmoid(rs), axis=0) + jnp.mean(-jax.nn.log_sigmoid(-rt), axis=0)
        )
        value = region_loss + losses.domain_adversarial(gs, gt)
        region_acc = 0.5 * (jnp.mean(rs >= 0, axis=0) + jnp.mean(rt < 0, axis=0))
        attention = losses.transferability_attention(jnp.concatenate([rs, rt]))
        return value, {
            "domain_accuracy": losses.domain_accuracy(gs, gt),
            "region_domain_accuracy": jnp.mean(region_acc),
            "region_attention": jnp.mean(attention),
        }
