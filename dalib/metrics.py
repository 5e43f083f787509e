r"""Classification metrics of emotion recognition: UAR, WAR, UF1, confusion matrix.

All functions take integer class indices ``y_true [n]`` and ``y_pred [n]`` in
``0..num_classes-1`` (take ``argmax`` of scores first), are ``jit``-able with
``num_classes`` static, and ``vmap`` over a leading batch.

**Classes absent from** ``y_true`` are excluded from every macro average: UAR
and UF1 average over the classes with at least one true sample. A wrong
prediction *into* an absent class still costs recall of the true class. This is
scikit-learn's ``recall_score`` / ``f1_score`` with ``average="macro"``,
``labels=<classes present in y_true>`` and ``zero_division=0``. (Without
``labels``, scikit-learn's ``f1_score`` would also average over classes that are
only predicted, each with F1 = 0.)

Label values are range-checked on concrete arrays (on the values as given, so
an int64 label too large for int32 is refused rather than wrapped around);
under ``jit`` they cannot be, and a sample with a label outside
``0..num_classes-1`` is silently dropped from the confusion matrix.

Class names (strings or objects) are refused with a ``TypeError`` that says
what to pass: map them to indices first, e.g.
``classes, y = np.unique(names, return_inverse=True)`` (indices follow the
sorted names), with the same ``classes`` for ``y_true`` and ``y_pred``.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks

__all__ = ["confusion_matrix", "uar", "uf1", "war"]


def _num_classes(num_classes: int) -> int:
    try:
        c = operator.index(num_classes)
    except TypeError:
        raise TypeError(
            f"`num_classes` must be a Python int (static under jit), got {num_classes!r}"
        ) from None
    if c < 1:
        raise ValueError(f"`num_classes` must be >= 1, got {c}")
    return c


def _pair(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None
) -> tuple[jax.Array, jax.Array]:
    """Validates a label pair; Python lists are accepted for convenience."""
    if isinstance(y_true, (list, tuple)):
        y_true = np.asarray(y_true)
    if isinstance(y_pred, (list, tuple)):
        y_pred = np.asarray(y_pred)
    t = _checks.labels(y_true, "y_true", num_classes=num_classes)
    p = _checks.labels(y_pred, "y_pred", num_classes=num_classes)
    _checks.check_leading(t, p, "y_true", "y_pred")
    _checks.check_nonempty(t, "y_true")
    return t, p


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, *, num_classes: int) -> jax.Array:
    r"""Counts of (true, predicted) class pairs: rows are true classes, columns predictions.

    .. math:: M_{ij} = \#\{k : y^{\text{true}}_k = i,\ y^{\text{pred}}_k = j\}.

    Args:
      y_true: integer labels ``[n]``.
      y_pred: integer predictions ``[n]``.
      num_classes: ``C`` (static).

    Returns:
      ``[C, C]`` int32 counts; they sum to ``n``.

    Raises:
      ValueError: different lengths, empty or non-1-D inputs, labels out of range.
      TypeError: non-integer labels.

    Examples:
      >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3)
      Array([[1, 0, 0],
             [0, 1, 1],
             [0, 0, 1]], dtype=int32)
    """
    c = _num_classes(num_classes)
    t, p = _pair(y_true, y_pred, c)
    # Out-of-range pairs (possible only under jit) go to row c, which is dropped;
    # plain indexing would wrap negative labels around instead.
    valid = (t >= 0) & (t < c) & (p >= 0) & (p < c)
    rows = jnp.where(valid, t, c)
    return jnp.zeros((c, c), jnp.int32).at[rows, p].add(1, mode="drop")


def war(y_true: ArrayLike, y_pred: ArrayLike) -> jax.Array:
    r"""Weighted average recall (WAR), i.e. plain accuracy.

    .. math:: \mathrm{WAR} = \frac{1}{n}\sum_k [y^{\text{true}}_k = y^{\text{pred}}_k].

    Args:
      y_true: integer labels ``[n]``.
      y_pred: integer predictions ``[n]``.

    Returns:
      Scalar float in ``[0, 1]``.

    Examples:
      >>> round(float(war([0, 1, 1, 2], [0, 1, 2, 2])), 4)
      0.75
    """
    t, p = _pair(y_true, y_pred, None)
    return jnp.mean((t == p).astype(jnp.result_type(float)))


def _present(cm: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    dtype = jnp.result_type(float)
    support = jnp.sum(cm, axis=1).astype(dtype)
    present = support > 0
    return present, support, jnp.diagonal(cm).astype(dtype)


def uar(y_true: ArrayLike, y_pred: ArrayLike, *, num_classes: int) -> jax.Array:
    r"""Unweighted average recall (UAR): recall averaged over the classes present.

    .. math::

       \mathrm{UAR} = \frac{1}{|P|}\sum_{c \in P} \frac{M_{cc}}{\sum_j M_{cj}},
       \qquad P = \{c : \textstyle\sum_j M_{cj} > 0\},

    with :math:`M` the confusion matrix. Classes absent from ``y_true`` are left
    out of the mean (scikit-learn ``recall_score(average="macro",
    labels=present)``).

    Args:
      y_true: integer labels ``[n]``.
      y_pred: integer predictions ``[n]``.
      num_classes: ``C`` (static).

    Returns:
      Scalar float in ``[0, 1]``.

    Examples:
      >>> round(float(uar([0, 0, 0, 1], [0, 0, 0, 0], num_classes=3)), 4)
      0.5
    """
    present, support, tp = _present(confusion_matrix(y_true, y_pred, num_classes=num_classes))
    recall = tp / jnp.where(present, support, 1.0)
    return jnp.sum(jnp.where(present, recall, 0.0)) / jnp.sum(present)


def uf1(y_true: ArrayLike, y_pred: ArrayLike, *, num_classes: int) -> jax.Array:
    r"""Unweighted F1 (UF1, macro F1) over the classes present in ``y_true``.

    .. math::

       \mathrm{UF1} = \frac{1}{|P|}\sum_{c \in P}
       \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c},

    with :math:`P` the classes that occur in ``y_true``. A present class never
    predicted has F1 = 0 (``zero_division=0``); classes only predicted are not
    averaged, but their false positives count as false negatives of the true
    classes. Equals scikit-learn ``f1_score(average="macro", labels=present,
    zero_division=0)``.

    Args:
      y_true: integer labels ``[n]``.
      y_pred: integer predictions ``[n]``.
      num_classes: ``C`` (static).

    Returns:
      Scalar float in ``[0, 1]``.

    Examples:
      >>> round(float(uf1([0, 0, 1, 1], [0, 1, 1, 1], num_classes=2)), 4)
      0.7333

    References:
      Zong et al., "Cross-Database Micro-Expression Recognition: A Benchmark",
      IEEE TKDE 2022 (UF1 and UAR as the CDMER metrics).
    """
    cm = confusion_matrix(y_true, y_pred, num_classes=num_classes)
    present, support, tp = _present(cm)
    predicted = jnp.sum(cm, axis=0).astype(tp.dtype)
    denom = support + predicted  # = 2 TP + FP + FN, > 0 for every present class
    f1 = 2.0 * tp / jnp.where(present, denom, 1.0)
    return jnp.sum(jnp.where(present, f1, 0.0)) / jnp.sum(present)
