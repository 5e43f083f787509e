"""Tests of UAR, WAR, UF1 and the confusion matrix against scikit-learn."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from dalib.metrics import confusion_matrix, uar, uf1, war

C = 5


def _labels(seed, n=40):
    """Random labels where class 4 never occurs in y_true (only predicted) and
    class 3 is never predicted."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, size=n)
    y_pred = rng.choice([0, 1, 2, 4], size=n)
    # Some right answers so that recalls differ from 0.
    right = rng.random(n) < 0.4
    y_pred = np.where(right & (y_true != 3), y_true, y_pred)
    return y_true.astype(np.int32), y_pred.astype(np.int32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_match_sklearn_with_absent_classes(seed):
    y_true, y_pred = _labels(seed)
    present = np.unique(y_true)
    assert 4 not in present and 3 in present and 3 not in y_pred and 4 in y_pred
    np.testing.assert_allclose(
        uar(y_true, y_pred, num_classes=C),
        skm.recall_score(y_true, y_pred, average="macro", labels=present),
        rtol=1e-12,
    )
    np.testing.assert_allclose(war(y_true, y_pred), skm.accuracy_score(y_true, y_pred), rtol=1e-12)
    np.testing.assert_allclose(
        uf1(y_true, y_pred, num_classes=C),
        skm.f1_score(y_true, y_pred, average="macro", labels=present, zero_division=0),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, num_classes=C),
        skm.confusion_matrix(y_true, y_pred, labels=np.arange(C)),
    )


def test_all_classes_present_matches_plain_macro():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 3, size=50).astype(np.int32)
    y_pred = rng.integers(0, 3, size=50).astype(np.int32)
    np.testing.assert_allclose(
        uar(y_true, y_pred, num_classes=3),
        skm.balanced_accuracy_score(y_true, y_pred),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        uf1(y_true, y_pred, num_classes=3),
        skm.f1_score(y_true, y_pred, average="macro"),
        rtol=1e-12,
    )


def test_perfect_and_hand_worked_values():
    y = np.array([0, 1, 2, 2, 1], np.int32)
    for fn in (functools.partial(uar, num_classes=3), war, functools.partial(uf1, num_classes=3)):
        assert float(fn(y, y)) == 1.0
    # Everything predicted as class 0: recall 1 for class 0, 0 elsewhere.
    zeros = np.zeros(5, np.int32)
    assert float(uar(y, zeros, num_classes=3)) == pytest.approx(1 / 3)
    # F1 of class 0 = 2*1 / (2*1 + 4 + 0); the others 0.
    assert float(uf1(y, zeros, num_classes=3)) == pytest.approx((2 / 6) / 3)


def test_jit_and_vmap():
    y_true = np.stack([_labels(s)[0] for s in range(3)])
    y_pred = np.stack([_labels(s)[1] for s in range(3)])
    for fn in (
        functools.partial(uar, num_classes=C),
        war,
        functools.partial(uf1, num_classes=C),
        functools.partial(confusion_matrix, num_classes=C),
    ):
        batched = jax.jit(jax.vmap(fn))(y_true, y_pred)
        looped = np.stack([np.asarray(fn(y_true[b], y_pred[b])) for b in range(3)])
        np.testing.assert_allclose(batched, looped, rtol=1e-12)
    cm = confusion_matrix(y_true[0], y_pred[0], num_classes=C)
    assert cm.dtype == jnp.int32 and int(cm.sum()) == y_true.shape[1]


@pytest.mark.parametrize(
    "fn",
    [
        functools.partial(uar, num_classes=C),
        war,
        functools.partial(uf1, num_classes=C),
        functools.partial(confusion_matrix, num_classes=C),
    ],
    ids=["uar", "war", "uf1", "cm"],
)
def test_bad_inputs(fn):
    y = np.array([0, 1, 2], np.int32)
    with pytest.raises(TypeError, match="`y_pred` must hold integer class indices"):
        fn(y, y.astype(np.float32))
    with pytest.raises(
        ValueError, match=r"`y_true` and `y_pred` must have one entry.*\(3,\).*\(2,\)"
    ):
        fn(y, y[:2])
    with pytest.raises(ValueError, match=r"`y_true` must be 1-D.*\(3, 1\)"):
        fn(y[:, None], y)
    with pytest.raises(ValueError, match="`y_true` is empty"):
        fn(y[:0], y[:0])


def test_out_of_range_and_num_classes():
    y = np.array([0, 1, 2], np.int32)
    with pytest.raises(ValueError, match=r"`y_pred` holds class indices in \[0, 5\]"):
        uar(y, np.array([0, 5, 1], np.int32), num_classes=C)
    with pytest.raises(ValueError, match=r"`y_true` holds class indices in \[-1, 2\]"):
        confusion_matrix(np.array([-1, 1, 2], np.int32), y, num_classes=C)
    with pytest.raises(TypeError, match="`num_classes` must be a Python int"):
        uf1(y, y, num_classes=3.0)
    with pytest.raises(ValueError, match="`num_classes` must be >= 1"):
        uar(y, y, num_classes=0)


def test_out_of_range_labels_are_dropped_under_jit():
    cm = jax.jit(functools.partial(confusion_matrix, num_classes=3))(
        jnp.array([-1, 0, 5, 2]), jnp.array([0, 0, 0, 1])
    )
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 0, 0], [0, 1, 0]])
