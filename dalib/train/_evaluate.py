"""Evaluation: predictions, probabilities, features and UAR / WAR / UF1 on a set.

This is the only place of :mod:`dalib.train` that takes target labels, and it
takes them only to score predictions that were computed without them.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks, metrics
from dalib.train._trainer import Trainer, TrainState

__all__ = ["Evaluation", "evaluate", "predict"]


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A model's outputs on a set of samples (NumPy arrays).

    Attributes:
      predictions: ``[N]`` predicted class indices (argmax of the logits).
      probs: ``[N, C]`` softmax probabilities.
      logits: ``[N, C]`` classifier logits.
      features: ``[N, d]`` encoder features (for t-SNE / UMAP plots, A-distances).
      metrics: ``{"uar", "war", "uf1"}`` as floats when labels were given, else ``{}``.
    """

    predictions: np.ndarray
    probs: np.ndarray
    logits: np.ndarray
    features: np.ndarray
    metrics: dict[str, float]


@functools.partial(jax.jit, static_argnums=(0, 3))
def _forward_chunks(trainer: Trainer, params: dict, x: jax.Array, batch_size: int):
    n = x.shape[0]
    chunks = -(-n // batch_size)
    pad = chunks * batch_size - n
    padded = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
    padded = padded.reshape(chunks, batch_size, *x.shape[1:])
    features, logits = jax.lax.map(lambda xb: trainer.forward(params, xb), padded)
    features = features.reshape(chunks * batch_size, *features.shape[2:])[:n]
    logits = logits.reshape(chunks * batch_size, logits.shape[-1])[:n]
    return features, logits


def predict(
    trainer: Trainer, state: TrainState | dict, inputs: ArrayLike, *, batch_size: int = 256
) -> Evaluation:
    """Runs encoder and classifier in evaluation mode (no dropout) over ``inputs``.

    Args:
      trainer: the trainer that trained ``state``.
      state: a :class:`TrainState` or its ``params``.
      inputs: ``[N, ...]`` samples.
      batch_size: samples per forward pass (memory bound; results do not depend on it).

    Returns:
      An :class:`Evaluation` with empty ``metrics``.
    """
    params = state.params if isinstance(state, TrainState) else state
    x = jnp.asarray(inputs)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"`inputs` must hold at least one sample, got shape {x.shape}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    features, logits = _forward_chunks(trainer, params, x, min(int(batch_size), x.shape[0]))
    return Evaluation(
        predictions=np.asarray(jnp.argmax(logits, axis=-1)),
        probs=np.asarray(jax.nn.softmax(logits, axis=-1)),
        logits=np.asarray(logits),
        features=np.asarray(features),
        metrics={},
    )


def evaluate(
    trainer: Trainer,
    state: TrainState | dict,
    inputs: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    batch_size: int = 256,
) -> Evaluation:
    """:func:`predict`, plus UAR, WAR and UF1 (:mod:`dalib.metrics`) when ``labels`` are given.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from flax import nnx
      >>> from dalib import train
      >>> batch = train.Batch(jnp.ones((4, 3)), jnp.zeros(4, jnp.int32), jnp.ones((2, 3)))
      >>> trainer = train.make_trainer(
      ...     encoder=nnx.Linear(3, 4, rngs=nnx.Rngs(0)),
      ...     classifier=nnx.Linear(4, 2, rngs=nnx.Rngs(1)),
      ...     optimizer=optax.sgd(0.1), example_batch=batch)
      >>> ev = train.evaluate(trainer, trainer.init(jax.random.key(0)), jnp.ones((5, 3)),
      ...                     jnp.array([0, 1, 0, 1, 1]))
      >>> ev.probs.shape, ev.features.shape, sorted(ev.metrics)
      ((5, 2), (5, 4), ['uar', 'uf1', 'war'])
    """
    result = predict(trainer, state, inputs, batch_size=batch_size)
    if labels is None:
        return result
    y = _checks.labels(labels, "labels", num_classes=trainer.num_classes)
    _checks.check_leading(y, result.predictions, "labels", "inputs")
    pred = jnp.asarray(result.predictions)
    scores = {
        "uar": float(metrics.uar(y, pred, num_classes=trainer.num_classes)),
        "war": float(metrics.war(y, pred)),
        "uf1": float(metrics.uf1(y, pred, num_classes=trainer.num_classes)),
    }
    return dataclasses.replace(result, metrics=scores)
