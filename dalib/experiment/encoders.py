r"""The deep methods' encoder, chosen by ``data.input`` and ``model.encoder``.

Two inputs (``data.input``, :data:`DATA_INPUTS`):

* ``"features"`` (default): one feature vector per utterance or clip, the
  protocol's feature table (IS09 functionals for SER, LBP-TOP for CDMER),
  read by an :class:`~dalib.nn.MLPEncoder` with the layers ``model.hidden``;
* ``"logmel"``: each utterance as fixed-length log-mel segments
  ``[segments, frames, mels]`` (:func:`dalib.features.logmel_segments`), read
  segment by segment by a :class:`~dalib.nn.SpectrogramCNN` (``model.encoder=
  cnn``: DIDAN's input) or a :class:`~dalib.nn.SegmentTransformer`
  (``transformer``: the ACM MM 2022 hybrid max-min MI method's), whose segment
  features are averaged per utterance:

  .. math:: f(X) = \frac{1}{S}\sum_{k=1}^{S} g(X_k),

  so the experiment layer keeps one row (one feature vector, one prediction)
  per utterance. With a linear classifier on :math:`f`, the logits are the
  mean of the segments' logits (the MM 2022 method averages the segments'
  posteriors instead).

``model.encoder="auto"`` (default) picks the MLP for feature vectors and, for
log-mel input, the encoder of the method's own paper (:data:`LOGMEL_ENCODERS`:
``ida`` the CNN, ``mi_decomposition`` the Transformer), the CNN for every
other method. The output size of every encoder is ``model.hidden[-1]``; the
CNN's blocks are ``model.channels``, the Transformer has ``model.layers``
blocks of ``model.heads`` heads; ``model.downsample`` averages each ``k x k``
block of a segment's (frames, mels) first. A method whose registry entry provides its
own encoder (``DeepParts.encoder``) uses it instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["DATA_INPUTS", "ENCODERS", "LOGMEL_ENCODERS", "SegmentPool", "resolve_encoder"]

#: What a deep method's encoder reads: ``features`` (a feature vector per row) or
#: ``logmel`` (log-mel segments ``[segments, frames, mels]`` per utterance, SER only).
DATA_INPUTS = ("features", "logmel")
#: ``auto`` (by input and method), ``mlp``, ``cnn`` (SpectrogramCNN), ``transformer``
#: (SegmentTransformer).
ENCODERS = ("auto", "mlp", "cnn", "transformer")
#: The log-mel encoder of the seed group's methods, after their papers (others: ``cnn``).
LOGMEL_ENCODERS = {"ida": "cnn", "mi_decomposition": "transformer"}


def resolve_encoder(method: Any, data_input: str, requested: str) -> str:
    """The encoder a method trains with, or a clear refusal before any run.

    Args:
      method: the method's :class:`~dalib.experiment.registry.Method` entry.
      data_input: ``data.input`` (:data:`DATA_INPUTS`).
      requested: ``model.encoder`` (:data:`ENCODERS`).

    Returns:
      ``"mlp"``, ``"cnn"`` or ``"transformer"``.

    Raises:
      ValueError: a shallow method on log-mel input, the MLP on log-mel input, a
        log-mel encoder on feature vectors, or an unknown choice.

    Examples:
      >>> from dalib.experiment import registry
      >>> resolve_encoder(registry.get("ida"), "logmel", "auto")
      'cnn'
      >>> resolve_encoder(registry.get("mi_decomposition"), "logmel", "auto")
      'transformer'
      >>> resolve_encoder(registry.get("dann"), "features", "auto")
      'mlp'
    """
    if data_input not in DATA_INPUTS:
        raise ValueError(f"config data.input must be one of {DATA_INPUTS}, got {data_input!r}.")
    if requested not in ENCODERS:
        raise ValueError(f"config model.encoder must be one of {ENCODERS}, got {requested!r}.")
    if data_input == "logmel" and not method.deep:
        raise ValueError(
            f"method {method.name!r} is shallow and reads feature vectors, but data.input=logmel "
            "gives each utterance as log-mel segments [segments, frames, mels], which only the "
            f"deep methods' CNN/Transformer encoders read; drop {method.name!r} from the methods "
            "or use data.input=features"
        )
    if requested == "auto":
        if data_input == "features":
            return "mlp"
        return LOGMEL_ENCODERS.get(method.name, "cnn")
    if requested == "mlp" and data_input == "logmel":
        raise ValueError(
            "config model.encoder=mlp reads one feature vector per utterance, but data.input="
            "logmel gives log-mel segments [segments, frames, mels]; use model.encoder=cnn "
            "(SpectrogramCNN), transformer (SegmentTransformer) or auto"
        )
    if requested != "mlp" and data_input == "features":
        raise ValueError(
            f"config model.encoder={requested} reads log-mel segments, but data.input=features "
            "gives one feature vector per row; use model.encoder=mlp (or auto), or "
            "data.input=logmel for speech corpora"
        )
    return requested


def check_encoder_sizes(
    encoder: str, hidden: Sequence[int], channels, heads, layers, downsample
) -> None:
    """Refuses sizes the chosen encoder cannot be built with (named, before any run)."""
    if encoder != "mlp" and (not isinstance(downsample, int) or downsample < 1):
        raise ValueError(f"config model.downsample must be an int >= 1, got {downsample!r}.")
    if encoder == "cnn":
        if not channels or any(not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(
                f"config model.channels must be the CNN's block widths (ints >= 1), got "
                f"{tuple(channels)!r}."
            )
    if encoder == "transformer":
        if not isinstance(layers, int) or layers < 1:
            raise ValueError(f"config model.layers must be an int >= 1, got {layers!r}.")
        if not isinstance(heads, int) or heads < 1 or hidden[-1] % heads:
            raise ValueError(
                f"config model.heads={heads!r} must divide the Transformer's width "
                f"model.hidden[-1]={hidden[-1]}."
            )


class SegmentPool(nnx.Module):
    r"""Encodes each segment of ``x [n, S, frames, mels]`` and averages over the ``S`` segments.

    .. math:: f(X) = \frac{1}{S}\sum_{k=1}^{S} g(X_k)

    Args:
      inner: the segment encoder :math:`g` (``out_features`` attribute).
      freq_first: hand :math:`g` each segment as ``[mels, frames]`` (the
        ``[freq, time]`` layout of :class:`~dalib.nn.SpectrogramCNN`) instead of
        ``[frames, mels]``.
      downsample: average each ``k x k`` block of (frames, mels) first (``k = 1``:
        none): a cheaper, coarser input (``k = 2``: 20 ms steps, 32 bands from 64).
    """

    def __init__(self, inner: nnx.Module, *, freq_first: bool, downsample: int = 1):
        self.inner = inner
        self.freq_first = freq_first
        self.downsample = int(downsample)
        self.out_features = inner.out_features

    def __call__(self, x: jax.Array) -> jax.Array:
        n, s = x.shape[0], x.shape[1]
        seg = jnp.reshape(x, (n * s, *x.shape[2:]))
        k = self.downsample
        if k > 1:
            f, m = seg.shape[1] // k, seg.shape[2] // k
            seg = seg[:, : f * k, : m * k].reshape(n * s, f, k, m, k).mean(axis=(2, 4))
        if self.freq_first:
            seg = jnp.swapaxes(seg, 1, 2)
        return jnp.mean(jnp.reshape(self.inner(seg), (n, s, -1)), axis=1)


def _encoder(spec: Any, input_shape: Sequence[int]):
    """The :class:`dalib.train.Network` encoder of a deep run on rows of ``input_shape``."""
    from dalib import train as T
    from dalib.nn import MLPEncoder, SegmentTransformer, SpectrogramCNN

    m = spec.model
    shape = tuple(int(s) for s in input_shape)
    kind = m.encoder
    if kind == "mlp":
        if len(shape) != 1:
            raise ValueError(
                f"model.encoder=mlp reads feature vectors, but the rows have shape {shape}; "
                "log-mel segments need data.input=logmel (model.encoder cnn or transformer)"
            )
        return T.from_nnx(
            lambda rngs: MLPEncoder(shape[0], m.hidden, dropout=m.dropout, rngs=rngs)
        )
    if len(shape) != 3:
        raise ValueError(
            f"model.encoder={kind} reads log-mel segments [segments, frames, mels] per row, but "
            f"the rows have shape {shape}; use data.input=logmel tables or model.encoder=mlp"
        )
    k = int(m.downsample)
    if shape[1] // k < 1 or shape[2] // k < 1:
        raise ValueError(
            f"model.downsample={k} leaves nothing of segments of {shape[1]} frames x {shape[2]} "
            "mels; use a smaller factor"
        )

    def pool(inner, freq_first):
        return SegmentPool(inner, freq_first=freq_first, downsample=k)

    out = int(m.hidden[-1])
    if kind == "cnn":
        channels = tuple(int(c) for c in m.channels)
        groups = min(8, math.gcd(*channels))
        return T.from_nnx(
            lambda rngs: pool(
                SpectrogramCNN(
                    1, channels, out_features=out, groups=groups, dropout=m.dropout, rngs=rngs
                ),
                freq_first=True,
            )
        )
    return T.from_nnx(
        lambda rngs: pool(
            SegmentTransformer(
                shape[2] // k,
                model_dim=out,
                num_heads=m.heads,
                num_layers=m.layers,
                dropout=m.dropout,
                rngs=rngs,
            ),
            freq_first=False,
        )
    )
