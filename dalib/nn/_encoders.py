r"""Feature encoders used in cross-corpus emotion recognition (Flax NNX).

Three families cover the inputs the field works with:

* :class:`MLPEncoder` — feature vectors ``[n, d]``: openSMILE functionals
  (IS09 384-d, IS10 1582-d, eGeMAPS 88-d), LBP-TOP histograms (15,045-d).
* :class:`SpectrogramCNN` — 2-D spectrograms ``[n, freq, time]`` (the convolutional
  front end of DIDAN-style deep cross-corpus SER).
* :class:`SegmentTransformer` — sequences of log-mel segments ``[n, time, mels]``
  (the Transformer encoder of the MM 2022 mutual-information SER method).

Every encoder maps a batch to features ``[n, out_features]`` and exposes
``out_features`` so that a classifier or a domain discriminator can be sized from
it. None of them holds batch statistics (they use LayerNorm / GroupNorm), so the
training code in :mod:`dalib.train` can treat their parameters as the whole
state and data-parallel training needs no cross-device statistics. Dropout is
switched off with ``nnx.view(model, deterministic=True)`` or ``model.eval()``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from dalib import _checks

__all__ = ["MLPEncoder", "SegmentTransformer", "SpectrogramCNN"]

Activation = Callable[[jax.Array], jax.Array]


def _check_input(x: jax.Array, name: str, ndim: Sequence[int], last: int | None, layout: str):
    x = _checks.as_float(x, name, ndim=ndim)
    if last is not None and x.shape[-1] != last:
        raise ValueError(
            f"`{name}` must be {layout} with {last} features on the last axis, "
            f"got shape {tuple(x.shape)}."
        )
    return x


class MLPEncoder(nnx.Module):
    r"""A multilayer perceptron for fixed-length feature vectors.

    Each hidden layer computes

    .. math:: h \leftarrow \operatorname{dropout}(\sigma(\operatorname{LN}(W h + b))),

    with LayerNorm (optional) and activation :math:`\sigma` (ReLU by default).

    Args:
      in_features: input size ``d`` (e.g. 384 for IS09 functionals).
      hidden_features: sizes of the hidden layers; the last is ``out_features``.
      dropout: dropout rate after every layer (0 disables it).
      layer_norm: apply LayerNorm before each activation.
      activation: elementwise non-linearity.
      rngs: ``nnx.Rngs`` for the initialisation (and the dropout stream).

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> enc = MLPEncoder(384, (128, 64), rngs=nnx.Rngs(0))
      >>> enc(jnp.ones((5, 384))).shape
      (5, 64)
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: Sequence[int] = (256, 128),
        *,
        dropout: float = 0.0,
        layer_norm: bool = True,
        activation: Activation = nnx.relu,
        rngs: nnx.Rngs,
    ):
        hidden_features = tuple(int(h) for h in hidden_features)
        if not hidden_features:
            raise ValueError("`hidden_features` needs at least one layer size, got ().")
        sizes = (int(in_features), *hidden_features)
        self.in_features = sizes[0]
        self.out_features = sizes[-1]
        self.activation = activation
        self.linears = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.norms = nnx.List(
            [nnx.LayerNorm(b, rngs=rngs) for b in hidden_features] if layer_norm else []
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``x [n, in_features]`` to features ``[n, out_features]``."""
        h = _check_input(x, "x", (2,), self.in_features, "[n, in_features]")
        for i, linear in enumerate(self.linears):
            h = linear(h)
            if len(self.norms):
                h = self.norms[i](h)
            h = self.dropout(self.activation(h))
        return h


class SpectrogramCNN(nnx.Module):
    r"""A 2-D convolutional encoder for (log-mel) spectrograms.

    ``len(channels)`` blocks of

    .. math:: h \leftarrow \operatorname{maxpool}_{2\times 2}(\operatorname{ReLU}(
       \operatorname{GN}(\operatorname{conv}_{3\times 3}(h)))),

    then global average pooling over frequency and time, dropout and a linear
    projection to ``out_features`` followed by ReLU. The pooling makes the
    encoder accept any spectrogram size of at least :math:`2^{B}` bins per axis
    for ``B`` blocks, so utterances of different lengths can share weights.

    Args:
      in_channels: channels of the input (1 for a plain spectrogram; 3 for
        static + delta + delta-delta as in DIDAN-style front ends).
      channels: output channels of the convolution blocks.
      out_features: size of the feature vector.
      groups: GroupNorm groups (each entry of ``channels`` must be divisible).
      dropout: dropout rate before the projection.
      rngs: ``nnx.Rngs``.

    Input: ``[n, freq, time]`` (single channel) or ``[n, freq, time, in_channels]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> enc = SpectrogramCNN(channels=(8, 16), out_features=32, groups=4, rngs=nnx.Rngs(0))
      >>> enc(jnp.ones((2, 40, 64))).shape
      (2, 32)
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32, 64),
        *,
        out_features: int = 128,
        groups: int = 8,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        channels = tuple(int(c) for c in channels)
        if not channels:
            raise ValueError("`channels` needs at least one block, got ().")
        for c in channels:
            if c % groups:
                raise ValueError(
                    f"every entry of `channels` {channels} must divide by groups={groups}."
                )
        self.in_channels = int(in_channels)
        self.out_features = int(out_features)
        sizes = (self.in_channels, *channels)
        self.convs = nnx.List(
            [nnx.Conv(a, b, (3, 3), rngs=rngs) for a, b in itertools.pairwise(sizes)]
        )
        self.norms = nnx.List([nnx.GroupNorm(c, num_groups=groups, rngs=rngs) for c in channels])
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.proj = nnx.Linear(channels[-1], self.out_features, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps ``x [n, freq, time(, channels)]`` to features ``[n, out_features]``."""
        x = _checks.as_float(x, "x", ndim=(3, 4))
        if x.ndim == 3:
            x = x[..., None]
        if x.shape[-1] != self.in_channels:
            raise ValueError(
                f"`x` must be [n, freq, time] or [n, freq, time, {self.in_channels}], "
                f"got shape {tuple(x.shape)}."
            )
        smallest = 2 ** len(self.convs)
        if min(x.shape[1], x.shape[2]) < smallest:
            raise ValueError(
                f"`x` has shape {tuple(x.shape)}; {len(self.convs)} pooling blocks need at "
                f"least {smallest} frequency bins and {smallest} frames."
            )
        h = x
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = nnx.relu(norm(conv(h)))
            h = nnx.max_pool(h, (2, 2), strides=(2, 2))
        h = jnp.mean(h, axis=(1, 2))
        return nnx.relu(self.proj(self.dropout(h)))


def _sinusoidal_positions(length: int, dim: int) -> jax.Array:
    r"""Fixed sinusoidal position codes ``[length, dim]`` (Vaswani et al. 2017).

    .. math:: P_{t, 2i} = \sin(t / 10000^{2i/d}), \quad P_{t, 2i+1} = \cos(t / 10000^{2i/d}).
    """
    pos = jnp.arange(length, dtype=jnp.float32)[:, None]
    i = jnp.arange((dim + 1) // 2, dtype=jnp.float32)[None, :]
    angle = pos / jnp.power(10000.0, 2.0 * i / dim)
    codes = jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1).reshape(length, -1)
    return codes[:, :dim]


class _Block(nnx.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float, rngs: nnx.Rngs):
        self.ln1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(
            heads, dim, dropout_rate=dropout, deterministic=False, decode=False, rngs=rngs
        )
        self.ln2 = nnx.LayerNorm(dim, rngs=rngs)
        self.fc1 = nnx.Linear(dim, mlp_dim, rngs=rngs)
        self.fc2 = nnx.Linear(mlp_dim, dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, h: jax.Array, mask: jax.Array | None) -> jax.Array:
        h = h + self.dropout(self.attn(self.ln1(h), mask=mask))
        return h + self.dropout(self.fc2(self.dropout(nnx.gelu(self.fc1(self.ln2(h))))))


class SegmentTransformer(nnx.Module):
    r"""A Transformer encoder over a sequence of log-mel segments.

    The input ``[n, T, mels]`` is projected to ``model_dim``, fixed sinusoidal
    position codes are added, ``num_layers`` pre-LayerNorm blocks (multi-head
    self-attention and a GELU MLP, each with a residual connection) follow, and a
    final LayerNorm and a mean over the (unmasked) time steps give features
    ``[n, model_dim]``:

    .. math:: f = \frac{1}{\sum_t m_t}\sum_t m_t\, \operatorname{LN}(h_t^{(L)}).

    Args:
      in_features: mel bands (or any per-step feature size).
      model_dim: width of the model and size of the output features.
      num_heads: attention heads (must divide ``model_dim``).
      num_layers: Transformer blocks.
      mlp_dim: hidden size of the block MLPs (default ``4 * model_dim``).
      dropout: dropout rate (attention weights, residual branches).
      rngs: ``nnx.Rngs``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> enc = SegmentTransformer(40, model_dim=32, num_heads=4, num_layers=1, rngs=nnx.Rngs(0))
      >>> enc(jnp.ones((3, 25, 40))).shape
      (3, 32)
    """

    def __init__(
        self,
        in_features: int,
        *,
        model_dim: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        mlp_dim: int | None = None,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        if model_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide model_dim={model_dim}.")
        self.in_features = int(in_features)
        self.out_features = int(model_dim)
        mlp_dim = 4 * model_dim if mlp_dim is None else int(mlp_dim)
        self.embed = nnx.Linear(self.in_features, model_dim, rngs=rngs)
        self.blocks = nnx.List(
            [_Block(model_dim, num_heads, mlp_dim, dropout, rngs) for _ in range(num_layers)]
        )
        self.final_norm = nnx.LayerNorm(model_dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """Maps ``x [n, T, in_features]`` to ``[n, model_dim]``.

        ``mask [n, T]`` (bool, True = real step) excludes padding from attention
        and from the mean; every row needs at least one real step.
        """
        x = _check_input(x, "x", (3,), self.in_features, "[n, time, in_features]")
        n, length, _ = x.shape
        if length == 0:
            raise ValueError(f"`x` has no time steps (shape {tuple(x.shape)}).")
        if mask is not None:
            mask = jnp.asarray(mask, dtype=bool)
            if mask.shape != (n, length):
                raise ValueError(
                    f"`mask` must be [n, time] = {(n, length)}, got shape {tuple(mask.shape)}."
                )
        h = self.embed(x) * math.sqrt(self.out_features)
        h = self.dropout(h + _sinusoidal_positions(length, self.out_features).astype(h.dtype))
        attn_mask = None if mask is None else nnx.make_attention_mask(mask, mask)
        for block in self.blocks:
            h = block(h, attn_mask)
        h = self.final_norm(h)
        if mask is None:
            return jnp.mean(h, axis=1)
        w = mask.astype(h.dtype)[..., None]
        return jnp.sum(h * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)
