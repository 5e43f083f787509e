r"""Domain discriminators for adversarial alignment (Flax NNX).

The modules only produce logits; the losses that consume them
(:func:`dalib.losses.domain_adversarial`, ...) are pure functions, and gradient
reversal is applied by the caller with :func:`dalib.ops.gradient_reversal` on the
features *before* they enter the discriminator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from dalib import _checks
from dalib.losses import transferability_attention

__all__ = ["DomainDiscriminator", "RegionDiscriminators"]


def _check_features(x: ArrayLike, name: str, features: int, *, ndim: int = 2) -> jax.Array:
    x = _checks.as_float(x, name, ndim=ndim)
    if x.shape[-1] != features:
        raise ValueError(
            f"`{name}` must have {features} features on its last axis (as the module was "
            f"built), got shape {tuple(x.shape)}."
        )
    return x


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    hidden = tuple(int(h) for h in hidden)
    if any(h < 1 for h in hidden):
        raise ValueError(f"`hidden` sizes must be positive, got {hidden}.")
    return hidden


class _MLP(nnx.Module):
    """Linear layers with an activation and dropout between them (none after the last)."""

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: Callable[[jax.Array], jax.Array] = nnx.relu,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.activation = activation
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.dropout(self.activation(x))
        return x


class DomainDiscriminator(nnx.Module):
    r"""MLP domain classifier: features ``[n, d]`` -> domain logits ``[n]``.

    ``Linear -> ReLU -> Dropout`` for each hidden size, then ``Linear -> 1``. The
    default ``hidden=(1024, 1024), dropout=0.5`` is the discriminator of DANN
    (Ganin et al. 2016) and of the Transfer-Learning-Library without batch norm.
    The output is a logit (source = 1 by the usual convention); no sigmoid.

    Dropout is active in training mode; ``model.eval()`` makes the module
    deterministic (``model.train()`` switches back). Give ``rngs`` a
    ``dropout`` stream, e.g. ``nnx.Rngs(params=0, dropout=1)``, to seed it apart
    from the initialisation.

    Args:
      in_features: ``d``, the feature size.
      hidden: hidden layer sizes.
      dropout: dropout rate after each hidden layer.
      rngs: ``nnx.Rngs`` for initialisation and dropout.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> disc = DomainDiscriminator(8, hidden=(16,), rngs=nnx.Rngs(0))
      >>> disc(jnp.ones((4, 8))).shape
      (4,)

    References:
      Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 2016.
    """

    def __init__(
        self,
        in_features: int,
        *,
        hidden: Sequence[int] = (1024, 1024),
        dropout: float = 0.5,
        rngs: nnx.Rngs,
    ):
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must lie in [0, 1), got {dropout}.")
        self.in_features = int(in_features)
        self.mlp = _MLP((self.in_features, *_check_hidden(hidden), 1), dropout=dropout, rngs=rngs)

    def __call__(self, x: ArrayLike) -> jax.Array:
        """Domain logits ``[n]`` for features ``x [n, in_features]``."""
        x = _check_features(x, "x", self.in_features)
        return self.mlp(x)[:, 0]


class _StackedLinear(nnx.Module):
    """``R`` independent linear maps applied region-wise: ``[n, R, a] -> [n, R, b]``."""

    def __init__(self, num: int, in_features: int, out_features: int, *, rngs: nnx.Rngs):
        init = nnx.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
        self.kernel = nnx.Param(init(rngs.params(), (num, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((num, out_features)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.einsum("nra,rab->nrb", x, self.kernel[...]) + self.bias[...]


class RegionDiscriminators(nnx.Module):
    r"""One domain discriminator per region plus a sample-level one (TANN).

    TANN (Li et al. 2021) splits each sample into regions (EEG brain regions;
    for speech, frequency bands; for faces, facial blocks) and gives every
    region its own discriminator, plus one discriminator on the whole sample.
    The ``R`` region discriminators are evaluated together as stacked weights
    (one ``einsum`` per layer, no Python loop over regions).

    :meth:`attention` turns the logits into the transferability attention
    weights :math:`w = 1 + H(\hat d)` (via
    :func:`dalib.losses.transferability_attention`), with
    :math:`\hat d = \sigma(\text{logit})` and :math:`H` the binary entropy in
    nats: a region or sample the discriminator cannot tell apart
    (:math:`\hat d \approx 1/2`) gets the largest weight :math:`1 + \log 2`, a
    clearly domain-specific one a weight near 1.

    Args:
      num_regions: ``R``.
      region_features: ``f``, the feature size of each region.
      hidden: hidden sizes of each region discriminator.
      dropout: dropout rate after each hidden layer (all discriminators).
      sample_features: input size of the sample-level discriminator; default
        ``R * f`` (the flattened regions).
      sample_hidden: hidden sizes of the sample-level discriminator; default
        ``hidden``.
      rngs: ``nnx.Rngs`` for initialisation and dropout.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> disc = RegionDiscriminators(3, 5, hidden=(8,), rngs=nnx.Rngs(0))
      >>> region_logits, sample_logits = disc(jnp.ones((4, 3, 5)))
      >>> region_logits.shape, sample_logits.shape
      ((4, 3), (4,))
      >>> region_w, sample_w = disc.attention(jnp.zeros((4, 3)), jnp.zeros(4))
      >>> round(float(region_w[0, 0]), 4)
      1.6931

    References:
      Li et al., "A Novel Transferability Attention Neural Network Model for EEG
      Emotion Recognition", Neurocomputing 447, 2021. Wang et al., "Transferable
      Attention for Domain Adaptation", AAAI 2019.
    """

    def __init__(
        self,
        num_regions: int,
        region_features: int,
        *,
        hidden: Sequence[int] = (64,),
        dropout: float = 0.5,
        sample_features: int | None = None,
        sample_hidden: Sequence[int] | None = None,
        rngs: nnx.Rngs,
    ):
        if num_regions < 1 or region_features < 1:
            raise ValueError(
                "`num_regions` and `region_features` must be positive, got "
                f"{num_regions} and {region_features}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must lie in [0, 1), got {dropout}.")
        hidden = _check_hidden(hidden)
        self.num_regions = int(num_regions)
        self.region_features = int(region_features)
        self.sample_features = (
            self.num_regions * self.region_features
            if sample_features is None
            else int(sample_features)
        )
        sizes = (self.region_features, *hidden, 1)
        self.region_layers = nnx.List(
            [
                _StackedLinear(self.num_regions, a, b, rngs=rngs)
                for a, b in itertools.pairwise(sizes)
            ]
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.sample = DomainDiscriminator(
            self.sample_features,
            hidden=hidden if sample_hidden is None else sample_hidden,
            dropout=dropout,
            rngs=rngs,
        )

    def __call__(
        self, regions: ArrayLike, sample_features: ArrayLike | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Region logits ``[n, R]`` and sample logits ``[n]``.

        Args:
          regions: ``[n, R, f]`` region features.
          sample_features: ``[n, sample_features]`` input of the sample-level
            discriminator (e.g. the attention-weighted, aggregated regions);
            default: ``regions`` flattened to ``[n, R * f]``.
        """
        x = _check_features(regions, "regions", self.region_features, ndim=3)
        if x.shape[1] != self.num_regions:
            raise ValueError(
                f"`regions` must have shape [n, {self.num_regions}, {self.region_features}], "
                f"got {tuple(x.shape)}."
            )
        if sample_features is None:
            sample_features = x.reshape(x.shape[0], -1)
        sample_in = _check_features(sample_features, "sample_features", self.sample_features)
        _checks.check_leading(x, sample_in, "regions", "sample_features")
        return self._region_logits(x), self.sample(sample_in)

    def region_logits(self, regions: ArrayLike) -> jax.Array:
        """Region logits ``[n, R]`` of region features ``[n, R, f]`` (no sample level)."""
        x = _check_features(regions, "regions", self.region_features, ndim=3)
        if x.shape[1] != self.num_regions:
            raise ValueError(
                f"`regions` must have shape [n, {self.num_regions}, {self.region_features}], "
                f"got {tuple(x.shape)}."
            )
        return self._region_logits(x)

    def _region_logits(self, x: jax.Array) -> jax.Array:
        h = x
        for i, layer in enumerate(self.region_layers):
            h = layer(h)
            if i < len(self.region_layers) - 1:
                h = self.dropout(nnx.relu(h))
        return h[..., 0]

    @staticmethod
    def attention(
        region_logits: ArrayLike, sample_logits: ArrayLike, *, stop_gradient: bool = True
    ) -> tuple[jax.Array, jax.Array]:
        r"""Transferability attention weights :math:`1 + H(\sigma(\text{logit}))`.

        Applies :func:`dalib.losses.transferability_attention` to both outputs.

        Args:
          region_logits: ``[n, R]`` from the region discriminators.
          sample_logits: ``[n]`` from the sample-level discriminator.
          stop_gradient: treat the weights as constants (default).

        Returns:
          ``(region_weights [n, R], sample_weights [n])``, each in
          :math:`[1, 1 + \log 2]`.
        """
        region_logits = _checks.as_float(region_logits, "region_logits", ndim=2)
        sample_logits = _checks.as_float(sample_logits, "sample_logits", ndim=1)
        _checks.check_leading(region_logits, sample_logits, "region_logits", "sample_logits")
        return (
            transferability_attention(region_logits, stop_gradient=stop_gradient),
            transferability_attention(sample_logits, stop_gradient=stop_gradient),
        )
