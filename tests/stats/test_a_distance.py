"""Tests of the proxy A-distance against scikit-learn classifiers on the same split."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from dalib.stats import proxy_a_distance
from dalib.stats._a_distance import split_masks


def _clouds(seed, n=60, m=45, d=3, shift=1.0):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, d))
    xt = rng.normal(size=(m, d)) + shift
    return xs, xt


_pad = jax.jit(proxy_a_distance, static_argnames=("train_fraction",))


def pad(source, target, *, key, reg=1e-3, source_mask=None, target_mask=None):
    """Jitted, always with the same arguments: calls with equal shapes share a compilation."""
    if source_mask is None:
        source_mask = np.ones(len(source), bool)
    if target_mask is None:
        target_mask = np.ones(len(target), bool)
    return _pad(source, target, key=key, reg=reg, source_mask=source_mask, target_mask=target_mask)


_split = jax.jit(split_masks, static_argnames=("train_fraction",))


def _reference_split(key, n, m, fraction=0.5):
    masks = _split(key, jnp.ones(n, bool), jnp.ones(m, bool), train_fraction=fraction)
    return [np.asarray(a) for a in masks]


def _reference_distance(xs, xt, split, classifier):
    """Standardise on the training rows, fit, return (2(1 - 2 eps))+ with balanced eps."""
    tr_s, te_s, tr_t, te_t = split
    x_train = np.concatenate([xs[tr_s], xt[tr_t]])
    y_train = np.concatenate([np.ones(tr_s.sum()), -np.ones(tr_t.sum())])
    weights = np.concatenate(
        [np.full(tr_s.sum(), 1.0 / tr_s.sum()), np.full(tr_t.sum(), 1.0 / tr_t.sum())]
    )
    mean = np.average(x_train, axis=0, weights=weights)
    std = np.sqrt(np.average((x_train - mean) ** 2, axis=0, weights=weights))
    clf = classifier.fit((x_train - mean) / std, y_train, sample_weight=weights)
    wrong_s = np.mean(clf.decision_function((xs[te_s] - mean) / std) <= 0)
    wrong_t = np.mean(clf.decision_function((xt[te_t] - mean) / std) > 0)
    eps = 0.5 * (wrong_s + wrong_t)
    return max(0.0, 2.0 * (1.0 - 2.0 * eps))


class _RidgeScores:
    """scikit-learn Ridge with a decision function (the raw regression score)."""

    def __init__(self, alpha):
        self.model = Ridge(alpha=alpha, fit_intercept=True)

    def fit(self, x, y, sample_weight):
        self.model.fit(x, y, sample_weight=sample_weight)
        return self

    def decision_function(self, x):
        return self.model.predict(x)


@pytest.mark.parametrize(("seed", "d"), [(0, 3), (1, 5), (2, 80)], ids=["d3", "d5", "d>N"])
def test_matches_sklearn_ridge_on_same_split(seed, d):
    xs, xt = _clouds(seed, d=d, shift=0.3 if d < 10 else 0.15)
    key = jax.random.key(seed)
    reg = 1e-3
    split = _reference_split(key, len(xs), len(xt))
    expected = _reference_distance(xs, xt, split, _RidgeScores(reg))
    got = float(pad(xs, xt, key=key, reg=reg))
    assert 0.0 < got < 2.0  # a non-trivial case
    assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_close_to_logistic_regression(seed):
    xs, xt = _clouds(seed, n=200, m=160, d=4, shift=0.5)
    key = jax.random.key(seed)
    split = _reference_split(key, len(xs), len(xt))
    expected = _reference_distance(xs, xt, split, LogisticRegression(C=1e3))
    assert float(pad(xs, xt, key=key)) == pytest.approx(expected, abs=0.1)


def test_far_apart_clouds_give_two():
    xs, xt = _clouds(5, shift=20.0)
    assert float(pad(xs, xt, key=jax.random.key(0))) == 2.0


def test_identical_distributions_give_about_zero():
    xs, xt = _clouds(6, n=200, m=160, d=4, shift=0.0)
    keys = jax.random.split(jax.random.key(1), 8)
    values = jax.jit(jax.vmap(lambda k: proxy_a_distance(xs, xt, key=k)))(keys)
    assert np.all((values >= 0.0) & (values <= 2.0))
    assert float(jnp.mean(values)) < 0.2


def test_order_of_magnitude_follows_the_shift():
    key = jax.random.key(2)
    values = [float(pad(*_clouds(7, n=200, m=160, d=4, shift=s), key=key)) for s in (0.2, 1.0)]
    assert values[0] < values[1]


def test_masks_ignore_masked_rows():
    xs, xt = _clouds(8)
    ms = np.arange(len(xs)) % 3 != 0
    mt = np.arange(len(xt)) % 4 != 0
    key = jax.random.key(3)
    got = pad(xs, xt, key=key, source_mask=ms, target_mask=mt)
    garbage_s = np.where(ms[:, None], xs, 1e6)
    garbage_t = np.where(mt[:, None], xt, -1e6)
    assert float(pad(garbage_s, garbage_t, key=key, source_mask=ms, target_mask=mt)) == float(got)
    assert float(got) != float(pad(garbage_s, garbage_t, key=key))


def test_split_sizes():
    valid_s = jnp.asarray(np.arange(60) % 2 == 0)  # 30 valid rows
    valid_t = jnp.asarray(np.arange(45) < 25)  # 25 valid rows
    tr_s, te_s, tr_t, te_t = _split(jax.random.key(0), valid_s, valid_t, train_fraction=0.5)
    assert int(tr_s.sum()) == 15 and int(te_s.sum()) == 15
    assert int(tr_t.sum()) == 12 and int(te_t.sum()) == 13
    for train, test, valid in ((tr_s, te_s, valid_s), (tr_t, te_t, valid_t)):
        assert not bool(jnp.any(train & test)) and bool(jnp.all((train | test) == valid))


def test_vmap_over_batch_equals_loop():
    rng = np.random.default_rng(9)
    s = rng.normal(size=(3, 20, 2))
    t = rng.normal(size=(3, 16, 2)) + np.array([0.0, 1.0, 3.0])[:, None, None]
    key = jax.random.key(4)
    batched = jax.jit(jax.vmap(lambda a, b: proxy_a_distance(a, b, key=key)))(s, t)
    looped = [float(pad(s[b], t[b], key=key)) for b in range(3)]
    np.testing.assert_allclose(batched, looped, atol=1e-12)


@pytest.mark.slow
def test_eager_equals_jit():
    # Eager mode dispatches (and compiles) every primitive one by one: slow.
    xs, xt = _clouds(12, n=20, m=16, d=2)
    key = jax.random.key(4)
    assert float(proxy_a_distance(xs, xt, key=key)) == float(pad(xs, xt, key=key))


def test_no_gradient():
    xs, xt = _clouds(10, n=12, m=10)
    g = jax.jit(jax.grad(lambda a: proxy_a_distance(a, xt, key=jax.random.key(0))))(xs)
    assert np.all(np.asarray(g) == 0.0)


def test_bad_inputs():
    xs, xt = _clouds(11, n=6, m=5)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"`source` has 1 samples.*held-out split"):
        proxy_a_distance(xs[:1], xt, key=key)
    with pytest.raises(ValueError, match=r"same feature size.*\(6, 3\).*\(5, 2\)"):
        proxy_a_distance(xs, xt[:, :2], key=key)
    with pytest.raises(ValueError, match=r"`target` must be 2-D"):
        proxy_a_distance(xs, xt[0], key=key)
    with pytest.raises(ValueError, match="`source` is empty"):
        proxy_a_distance(xs[:0], xt, key=key)
    with pytest.raises(TypeError, match="`target` must hold floating-point"):
        proxy_a_distance(xs, np.ones((5, 3), np.int32), key=key)
    bad = xs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"`source`.*NaN"):
        proxy_a_distance(bad, xt, key=key)
    with pytest.raises(ValueError, match=r"`source_mask` must have one entry.*\(4,\).*\(6, 3\)"):
        proxy_a_distance(xs, xt, key=key, source_mask=np.ones(4, bool))
    with pytest.raises(TypeError, match="`target_mask` must hold booleans"):
        proxy_a_distance(xs, xt, key=key, target_mask=np.ones(5))
    with pytest.raises(ValueError, match=r"`train_fraction` must lie in \(0, 1\)"):
        proxy_a_distance(xs, xt, key=key, train_fraction=1.0)
    with pytest.raises(ValueError, match="`reg` must be positive"):
        proxy_a_distance(xs, xt, key=key, reg=0.0)
