"""The training batch: labelled source samples and unlabelled target samples.

:class:`Batch` has exactly three fields and nothing else: there is no place for
target labels, so no code path of :mod:`dalib.train` can read them. The same
type holds a whole training set (``data``) and one minibatch drawn from it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks

__all__ = ["Batch", "check_batch", "sample_batch"]


class Batch(NamedTuple):
    """Source inputs with labels and target inputs, without labels.

    Fields, in order:

    * ``source_inputs``: ``[n, ...]`` source samples (feature vectors, spectrograms, ...).
    * ``source_labels``: ``[n]`` integer class indices.
    * ``target_inputs``: ``[m, ...]`` target samples, same trailing shape; ``m != n`` is fine.

    Examples:
      >>> import jax.numpy as jnp
      >>> b = Batch(jnp.zeros((4, 3)), jnp.zeros(4, jnp.int32), jnp.zeros((6, 3)))
      >>> b._fields
      ('source_inputs', 'source_labels', 'target_inputs')
    """

    source_inputs: jax.Array
    source_labels: jax.Array
    target_inputs: jax.Array


def check_batch(batch: Batch, name: str = "batch") -> None:
    """Static checks of a :class:`Batch` (shapes and dtypes only; free under ``jit``).

    Raises:
      TypeError: if ``batch`` is not a :class:`Batch` or the labels are not integers.
      ValueError: on an empty source or target, label count mismatch, or different
        trailing shapes of source and target inputs.
    """
    if not isinstance(batch, Batch):
        raise TypeError(
            f"`{name}` must be a dalib.train.Batch(source_inputs, source_labels, "
            f"target_inputs), got {type(batch).__name__}."
        )
    xs, ys, xt = (np.shape(a) for a in batch)
    for shape, field in ((xs, "source_inputs"), (xt, "target_inputs")):
        if len(shape) < 1:
            raise ValueError(f"`{name}.{field}` needs a leading sample axis, got shape {shape}.")
        if shape[0] == 0:
            raise ValueError(
                f"`{name}.{field}` is empty (shape {shape}); every step needs at least one "
                f"{field.split('_')[0]} sample."
            )
    if len(ys) != 1 or ys[0] != xs[0]:
        raise ValueError(
            f"`{name}.source_labels` must be [n] with one label per source sample, got shape "
            f"{ys} for source_inputs {xs}."
        )
    if not jnp.issubdtype(jnp.result_type(batch.source_labels), jnp.integer):
        raise TypeError(
            f"`{name}.source_labels` must hold integer class indices, got dtype "
            f"{jnp.result_type(batch.source_labels)}."
        )
    if xs[1:] != xt[1:]:
        raise ValueError(
            f"`{name}.source_inputs` and `{name}.target_inputs` must share the per-sample "
            f"shape, got {xs} and {xt}."
        )


def check_batch_values(batch: Batch, name: str, num_classes: int) -> None:
    """Value checks of a concrete :class:`Batch`: finite inputs, labels in ``[0, C)``.

    Skipped for traced or abstract (``ShapeDtypeStruct``) fields: inside ``jit``
    a label outside the classifier's range gives a NaN loss and non-finite
    inputs propagate (use ``check_finite=True`` in :func:`train` / :func:`fit` to
    be told the step).
    """
    labels = _checks.concrete_value(batch.source_labels)
    if labels is not None and np.size(labels):
        labels = np.asarray(labels)
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"`{name}.source_labels` holds class indices in [{lo}, {hi}], but the "
                f"classifier has {num_classes} outputs (logits [n, {num_classes}]), so labels "
                f"must lie in [0, {num_classes - 1}]; widen the classifier to "
                f"{max(hi + 1, num_classes)} outputs or remap the labels."
            )
    for field in ("source_inputs", "target_inputs"):
        value = getattr(batch, field)
        if jnp.issubdtype(_checks.dtype_of(value), jnp.inexact):
            _checks.check_finite(value, f"{name}.{field}")


def sample_batch(
    data: Batch,
    key: jax.Array,
    *,
    batch_size: int | tuple[int, int],
    counts: tuple[ArrayLike, ArrayLike] | None = None,
) -> Batch:
    """Draws a minibatch from a training set, uniformly with replacement.

    Source and target indices come from independent streams of ``key``, so the
    batch is a pure function of ``(data, key)``: with ``key = fold_in(run_key,
    step)`` a resumed run draws exactly the batches of an uninterrupted one.

    Args:
      data: the whole training set as a :class:`Batch`.
      key: PRNG key.
      batch_size: ``b`` for both domains, or ``(n, m)``.
      counts: ``(n_rows, m_rows)``, the number of real source and target rows
        when ``data`` is padded with extra rows (may be traced, so one compiled
        program serves data sets of different sizes padded to one shape); rows
        past them are never drawn. Default: every row.

    Returns:
      A :class:`Batch` with ``n`` source and ``m`` target samples.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> data = Batch(jnp.ones((10, 2)), jnp.zeros(10, jnp.int32), jnp.ones((7, 2)))
      >>> b = sample_batch(data, jax.random.key(0), batch_size=(4, 3))
      >>> b.source_inputs.shape, b.source_labels.shape, b.target_inputs.shape
      ((4, 2), (4,), (3, 2))
    """
    check_batch(data, "data")
    n, m = (batch_size, batch_size) if isinstance(batch_size, int) else batch_size
    if n < 1 or m < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size!r}.")
    if counts is None:
        counts = (np.shape(data.source_inputs)[0], np.shape(data.target_inputs)[0])
    k_s, k_t = jax.random.split(key)
    i = jax.random.randint(k_s, (n,), 0, counts[0])
    j = jax.random.randint(k_t, (m,), 0, counts[1])
    return Batch(
        jnp.take(data.source_inputs, i, axis=0),
        jnp.take(data.source_labels, i, axis=0),
        jnp.take(data.target_inputs, j, axis=0),
    )
