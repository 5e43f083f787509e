"""The common interface of the shallow baselines: make_shallow, fit_predict, checks."""

import inspect

import numpy as np
import pytest

from dalib.shallow import (
    JDA,
    RSTR,
    SA,
    SHALLOW_METHODS,
    TCA,
    TGSR,
    TSRG,
    CoralTransform,
    SourceOnly,
    make_shallow,
    standardize,
)


def _domain(rng, n, *, rotation=0.0, shift=None, d=6):
    """Three Gaussian classes; the target is rotated in the (0, 1) plane and translated."""
    centres = np.zeros((3, d))
    centres[:, 0] = [-3.0, 0.0, 3.0]
    centres[:, 1] = [-1.5, 0.0, 1.5]
    y = np.arange(n) % 3
    x = centres[y] + rng.normal(size=(n, d))
    rot = np.eye(d)
    c, s = np.cos(rotation), np.sin(rotation)
    rot[:2, :2] = [[c, -s], [s, c]]
    x = x @ rot.T
    return (x if shift is None else x + shift), y


def _shifted_pair(seed):
    rng = np.random.default_rng(seed)
    xs, ys = _domain(rng, 150)
    shift = np.zeros(6)
    shift[1:3] = [4.0, 2.0]
    xt, yt = _domain(rng, 120, rotation=0.5, shift=shift)
    return xs, ys, xt, yt


# Margins over source-only SVM measured on seeds 0-2 (smallest gains: TCA 0.18,
# JDA 0.18, SA 0.24, CORAL 0.23, TSRG 0.08), asserted with room to spare.
@pytest.mark.parametrize(
    ("name", "margin"),
    [("tca", 0.10), ("jda", 0.10), ("sa", 0.10), ("coral_transform", 0.10), ("tsrg", 0.04)],
)
def test_adaptation_beats_source_only_on_a_synthetic_shift(name, margin):
    for seed in range(3):
        xs, ys, xt, yt = _shifted_pair(seed)
        base, _ = make_shallow("svm").fit_predict(xs, ys, xt)
        adapted, _ = make_shallow(name).fit_predict(xs, ys, xt)
        assert np.mean(adapted == yt) >= np.mean(base == yt) + margin, seed


def test_source_only_is_good_without_shift():
    rng = np.random.default_rng(5)
    xs, ys = _domain(rng, 150)
    xt, yt = _domain(rng, 100)
    for name in ("svm", "logreg"):
        preds, _ = make_shallow(name).fit_predict(xs, ys, xt)
        assert np.mean(preds == yt) > 0.8


# Feature groups of the 6 columns of _domain (the region methods need them).
GROUPS = np.array([0, 0, 1, 1, 2, 2])


def test_fit_predict_cannot_see_target_labels():
    # The only inputs are the labelled source and the unlabelled target, plus the
    # optional keyword `groups` (the region of each feature column: metadata of the
    # columns, not of the samples).
    for name in SHALLOW_METHODS:
        signature = inspect.signature(make_shallow(name).fit_predict)
        params = list(signature.parameters)
        assert params == ["source", "source_labels", "target", "groups"], name
        assert signature.parameters["groups"].kind is inspect.Parameter.KEYWORD_ONLY
    xs, ys, xt, yt = _shifted_pair(0)
    rng = np.random.default_rng(0)
    for name in SHALLOW_METHODS:
        method = make_shallow(name)
        first, scores_first = method.fit_predict(xs, ys, xt, groups=GROUPS)
        # Shuffling the target labels the test holds changes nothing; neither does a rerun.
        yt_shuffled = rng.permutation(yt)
        assert not np.array_equal(yt_shuffled, yt)
        again, scores_again = method.fit_predict(xs, ys, xt, groups=GROUPS)
        np.testing.assert_array_equal(first, again)
        np.testing.assert_array_equal(scores_first, scores_again)


@pytest.mark.parametrize("name", SHALLOW_METHODS)
def test_predictions_follow_a_permutation_of_the_target(name):
    xs, ys, xt, _ = _shifted_pair(1)
    perm = np.random.default_rng(7).permutation(len(xt))
    preds, _ = make_shallow(name).fit_predict(xs, ys, xt, groups=GROUPS)
    permuted, _ = make_shallow(name).fit_predict(xs, ys, xt[perm], groups=GROUPS)
    assert np.mean(permuted == preds[perm]) >= 0.99


@pytest.mark.parametrize("name", ["tca", "tsrg", "tgsr", "rstr"])
def test_fit_transform_predict_is_fit_predict_plus_adapt(name):
    xs, ys, xt, _ = _shifted_pair(3)
    method = make_shallow(name)
    preds, scores, zs, zt = method.fit_transform_predict(xs, ys, xt, groups=GROUPS)
    p2, s2 = method.fit_predict(xs, ys, xt, groups=GROUPS)
    a_s, a_t = method.adapt(xs, ys, xt, groups=GROUPS)
    np.testing.assert_array_equal(preds, p2)
    np.testing.assert_array_equal(scores, s2)
    np.testing.assert_array_equal(zs, a_s)
    np.testing.assert_array_equal(zt, a_t)


def test_scores_layout():
    xs, ys, xt, _ = _shifted_pair(2)
    preds, probs = make_shallow("logreg").fit_predict(xs, ys, xt)
    assert preds.dtype == np.int64 and probs.shape == (len(xt), 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-10)
    np.testing.assert_array_equal(preds, probs.argmax(1))
    # num_classes widens the scores; an absent class gets probability 0 / score -inf.
    preds, probs = make_shallow("logreg", num_classes=5).fit_predict(xs, ys, xt)
    assert probs.shape == (len(xt), 5) and np.all(probs[:, 3:] == 0.0)
    preds, scores = make_shallow("svm", num_classes=4).fit_predict(xs, ys, xt)
    assert np.all(scores[:, 3] == -np.inf)
    np.testing.assert_array_equal(preds, scores.argmax(1))
    # two classes: the SVM's decision value f as columns (-f, f)
    two = ys < 2
    preds, scores = make_shallow("svm").fit_predict(xs[two], ys[two], xt)
    assert scores.shape == (len(xt), 2)
    np.testing.assert_allclose(scores[:, 0], -scores[:, 1])
    np.testing.assert_array_equal(preds, scores.argmax(1))


def test_standardize_modes():
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(20, 3)) * 2 + 1, rng.normal(size=(15, 3)) - 1
    a, b = standardize(xs, xt, mode="pooled")
    pooled = np.vstack([a, b])
    np.testing.assert_allclose(pooled.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pooled.std(0), 1.0)
    a, b = standardize(xs, xt, mode="source")
    np.testing.assert_allclose(a.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(b, (xt - xs.mean(0)) / xs.std(0))
    a, b = standardize(xs, xt, mode="per_domain")
    np.testing.assert_allclose(b.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(b.std(0), 1.0)
    a, b = standardize(xs, xt, mode="none")
    assert a is xs and b is xt
    const = np.ones((4, 2))
    a, _ = standardize(const, const)
    np.testing.assert_array_equal(a, 0.0)


def test_make_shallow_builds_each_class():
    assert isinstance(make_shallow("svm"), SourceOnly) and make_shallow("svm").classifier == "svm"
    assert make_shallow("logreg").classifier == "logreg"
    kinds = {
        "tca": TCA,
        "jda": JDA,
        "sa": SA,
        "coral_transform": CoralTransform,
        "tsrg": TSRG,
        "tgsr": TGSR,
        "rstr": RSTR,
    }
    for name, cls in kinds.items():
        assert type(make_shallow(name)) is cls
    assert make_shallow("tca", dim=7, classifier="logreg").dim == 7


@pytest.mark.parametrize(
    ("name", "options", "error", "match"),
    [
        ("dann", {}, ValueError, "unknown shallow method"),
        ("tca", {"gamma": 1.0}, TypeError, "no option"),
        ("svm", {"classifier": "logreg"}, ValueError, "fixes"),
        ("tca", {"classifier": "knn"}, ValueError, "classifier"),
        ("tca", {"C": 0.0}, ValueError, "C"),
        ("sa", {"standardize": "minmax"}, ValueError, "standardize"),
        ("svm", {"num_classes": 1}, ValueError, "num_classes"),
        ("svm", {"seed": 1.5}, ValueError, "seed"),
    ],
)
def test_bad_options_raise(name, options, error, match):
    with pytest.raises(error, match=match):
        make_shallow(name, **options)


@pytest.mark.parametrize(
    ("xs", "ys", "xt", "error", "match"),
    [
        (np.ones((6, 2), int), np.arange(6) % 2, np.ones((4, 2)), TypeError, "source"),
        (np.ones(6), np.arange(6) % 2, np.ones((4, 2)), ValueError, "source.*2-D"),
        (np.ones((6, 2)), np.arange(6) % 2, np.ones((4, 3)), ValueError, "same feature size"),
        (np.ones((6, 2)), np.arange(5) % 2, np.ones((4, 2)), ValueError, "one label per row"),
        (np.ones((6, 2)), (np.arange(6) % 2).astype(float), np.ones((4, 2)), TypeError, "integer"),
        (np.ones((6, 2)), np.arange(6) % 2, np.ones((0, 2)), ValueError, "target.*empty"),
        (np.full((6, 2), np.nan), np.arange(6) % 2, np.ones((4, 2)), ValueError, "NaN"),
        (np.ones((6, 2)), np.zeros(6, int), np.ones((4, 2)), ValueError, "single class"),
        (np.ones((6, 2)), np.arange(6) - 1, np.ones((4, 2)), ValueError, "negative"),
    ],
)
def test_bad_inputs_raise(xs, ys, xt, error, match):
    with pytest.raises(error, match=match):
        make_shallow("svm").fit_predict(xs, ys, xt)


def test_labels_beyond_num_classes_raise():
    with pytest.raises(ValueError, match="num_classes=2"):
        make_shallow("svm", num_classes=2).fit_predict(
            np.ones((6, 2)), np.arange(6) % 3, np.ones((4, 2))
        )
