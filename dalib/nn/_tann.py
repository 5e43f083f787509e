r"""A region-aware encoder with transferability attention (TANN) for feature tables."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from dalib import _checks
from dalib.losses import transferability_attention
from dalib.nn._discriminators import RegionDiscriminators, _check_hidden, _StackedLinear
from dalib.ops import gradient_reversal

__all__ = ["RegionAttentionEncoder"]


def _region_index(groups: ArrayLike, name: str = "groups") -> tuple[np.ndarray, np.ndarray]:
    """``(index [R, S], sizes [R])``: each region's columns, padded with ``D`` (a zero column)."""
    arr = np.asarray(groups)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty [D] vector (the region of each feature column), "
            f"got shape {arr.shape}."
        )
    if arr.dtype.kind not in "iu":
        raise TypeError(f"`{name}` must hold integers (region ids), got dtype {arr.dtype}.")
    ids = np.unique(arr)
    if ids.size < 2:
        raise ValueError(
            f"`{name}` names a single region ({ids.tolist()}); region attention needs at least 2."
        )
    columns = [np.flatnonzero(arr == g) for g in ids]
    sizes = np.asarray([c.size for c in columns])
    index = np.full((ids.size, sizes.max()), arr.size, dtype=np.int32)
    for r, c in enumerate(columns):
        index[r, : c.size] = c
    return index, sizes


class RegionAttentionEncoder(nnx.Module):
    r"""TANN's encoder for a feature table whose columns form regions.

    The ``D`` input columns are split into ``R`` regions by ``groups`` (face
    blocks of LBP-TOP, LLD groups of openSMILE functionals). For a sample
    :math:`x`:

    1. **Region features.** Region :math:`r`'s columns :math:`x_r` go through
       its own MLP (per-region weights, evaluated as one stacked ``einsum``;
       regions of unequal size are zero-padded, which leaves a linear layer
       unchanged), ``Linear -> LayerNorm -> ReLU -> Dropout`` per layer:
       :math:`h_r \in \mathbb R^f`.
    2. **Local attention.** The region discriminators
       (:class:`RegionDiscriminators`) read :math:`R(h_r)`, behind gradient
       reversal :math:`R`; their logits :math:`z_r` give
       :math:`a_r = 1 + H(\sigma(z_r))` (:func:`dalib.losses.transferability_attention`,
       no gradient through :math:`a_r`).
    3. **Sample feature.** :math:`g = \mathrm{Dropout}(\mathrm{ReLU}(\mathrm{LN}(W [a_1 h_1;
       \dots; a_R h_R] + b)))\in\mathbb R^{d}`.
    4. **Global attention.** The sample-level discriminator reads :math:`R(g)`;
       its logit :math:`z` gives :math:`a = 1 + H(\sigma(z))` and the output
       feature is :math:`a\,g`.

    The module returns ``[n, d + R + 1]``: the feature :math:`a\,g`, then the
    ``R`` region logits and the sample logit (what
    :class:`dalib.train.RegionAdversarial` trains the discriminators on; a
    classifier reads the first ``d`` columns, see :meth:`split`). The gradient
    reversal sits inside the module (scale 1): the weight of the adversarial
    term scales both players, as in DANN. Because the discriminators also set
    the attention at prediction time, they are part of this module (trained
    with the encoder's optimizer), not a separate adversary.

    Args:
      groups: ``[D]`` integer region of each input column (at least 2 regions).
      out_features: ``d``, the size of the sample feature.
      region_hidden: sizes of each region's MLP layers; the last is ``f``.
      disc_hidden: hidden sizes of every discriminator.
      dropout: dropout after the region and sample layers.
      disc_dropout: dropout inside the discriminators.
      rngs: ``nnx.Rngs`` for the initialisation and dropout.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> enc = RegionAttentionEncoder([0, 0, 1, 1, 1], 4, region_hidden=(3,), rngs=nnx.Rngs(0))
      >>> out = enc(jnp.ones((2, 5)))
      >>> features, region_logits, sample_logits = enc.split(out)
      >>> out.shape, features.shape, region_logits.shape, sample_logits.shape
      ((2, 7), (2, 4), (2, 2), (2,))

    References:
      Li, Y., Fu, B., Li, F., Shi, G. and Zheng, W. *A Novel Transferability
      Attention Neural Network Model for EEG Emotion Recognition.*
      Neurocomputing 447, 2021.
    """

    def __init__(
        self,
        groups: ArrayLike,
        out_features: int,
        *,
        region_hidden: Sequence[int] = (16,),
        disc_hidden: Sequence[int] = (64,),
        dropout: float = 0.0,
        disc_dropout: float = 0.5,
        rngs: nnx.Rngs,
    ):
        index, sizes = _region_index(groups)
        region_hidden = _check_hidden(region_hidden)
        if not region_hidden:
            raise ValueError("`region_hidden` needs at least one layer size, got ().")
        if int(out_features) < 1:
            raise ValueError(f"`out_features` must be positive, got {out_features}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must lie in [0, 1), got {dropout}.")
        self.in_features = int(np.asarray(groups).size)
        self.num_regions = r = int(index.shape[0])
        self.region_sizes = tuple(int(s) for s in sizes)
        self._index = tuple(tuple(int(i) for i in row) for row in index)  # static, hashable
        self.out_features = d = int(out_features)
        f = region_hidden[-1]
        sizes_ = (index.shape[1], *region_hidden)
        self.region_layers = nnx.List(
            [_StackedLinear(r, a, b, rngs=rngs) for a, b in itertools.pairwise(sizes_)]
        )
        self.region_norms = nnx.List([nnx.LayerNorm(b, rngs=rngs) for b in region_hidden])
        self.discriminators = RegionDiscriminators(
            r, f, hidden=disc_hidden, dropout=disc_dropout, sample_features=d, rngs=rngs
        )
        self.pool = nnx.Linear(r * f, d, rngs=rngs)
        self.pool_norm = nnx.LayerNorm(d, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    @property
    def output_features(self) -> int:
        """``d + R + 1``: the feature, the region logits and the sample logit."""
        return self.out_features + self.num_regions + 1

    def split(self, outputs: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(features [n, d], region_logits [n, R], sample_logits [n])`` of the output."""
        out = jnp.asarray(outputs)
        d, r = self.out_features, self.num_regions
        return out[:, :d], out[:, d : d + r], out[:, d + r]

    def regions(self, x: jax.Array) -> jax.Array:
        """Region features ``[n, R, f]`` of inputs ``x [n, D]``."""
        x = _checks.as_float(x, "x", ndim=2)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"`x` must have {self.in_features} feature columns (as `groups`), got shape "
                f"{tuple(x.shape)}."
            )
        padded = jnp.concatenate([x, jnp.zeros((x.shape[0], 1), x.dtype)], axis=1)
        h = padded[:, jnp.asarray(self._index)]  # [n, R, S]
        for layer, norm in zip(self.region_layers, self.region_norms, strict=True):
            h = self.dropout(nnx.relu(norm(layer(h))))
        return h

    def __call__(self, x: ArrayLike) -> jax.Array:
        """``[n, d + R + 1]``: attention-weighted features, region logits, sample logits."""
        h = self.regions(x)
        n = h.shape[0]
        region_logits = self.discriminators.region_logits(gradient_reversal(h, 1.0))
        local = transferability_attention(region_logits)  # [n, R], no gradient
        g = self.pool((local[..., None] * h).reshape(n, -1))
        g = self.dropout(nnx.relu(self.pool_norm(g)))
        sample_logits = self.discriminators.sample(gradient_reversal(g, 1.0))
        glob = transferability_attention(sample_logits)  # [n], no gradient
        return jnp.concatenate([glob[:, None] * g, region_logits, sample_logits[:, None]], axis=1)
