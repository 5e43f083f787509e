"""Tests for the permutation MMD test, its power and the required sample size."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from dalib import stats as dstats
from dalib.kernels import Gaussian, Linear, MultiGaussian
from dalib.stats._mmd_test import _random_source_masks

RTOL = 1e-5
TIE = 1e-12  # relative slack for "statistic >= observed" in the references


def _sets(seed, n, m, d=2, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift


# ----------------------------------------------------------------------------- NumPy references


def _gauss(a, b, sigma):
    return math.exp(-float(np.sum((a - b) ** 2)) / (2 * sigma**2))


def mmd_ref(source, target, sigma, unbiased):
    n, m = len(source), len(target)
    kss = sum(
        _gauss(source[i], source[j], sigma)
        for i in range(n)
        for j in range(n)
        if not (unbiased and i == j)
    )
    ktt = sum(
        _gauss(target[i], target[j], sigma)
        for i in range(m)
        for j in range(m)
        if not (unbiased and i == j)
    )
    kst = sum(_gauss(source[i], target[j], sigma) for i in range(n) for j in range(m))
    if unbiased:
        return kss / (n * (n - 1)) + ktt / (m * (m - 1)) - 2 * kst / (n * m)
    return kss / n**2 + ktt / m**2 - 2 * kst / (n * m)


def p_value_ref(source, target, masks, sigma, unbiased):
    """Relabel the pooled rows with each mask, recompute MMD from scratch, count."""
    pooled = np.concatenate([source, target])
    observed = mmd_ref(source, target, sigma, unbiased)
    count = 0
    for mask in masks:
        value = mmd_ref(pooled[mask], pooled[~mask], sigma, unbiased)
        if value >= observed - TIE * abs(observed):
            count += 1
    return observed, (1 + count) / (1 + len(masks))


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("n, m", [(3, 2), (7, 5)])
def test_statistic_and_p_value_match_numpy_loop(estimator, n, m):
    source, target = _sets(n + m, n, m)
    key = jax.random.key(4)
    stat, p = dstats.mmd_test(
        source,
        target,
        kernel=Gaussian(bandwidth=1.3),
        num_permutations=40,
        key=key,
        estimator=estimator,
    )
    # the relabellings mmd_test draws from this key
    masks = np.asarray(_random_source_masks(key, jnp.ones(n + m, dtype=bool), n, 40))
    observed, expected_p = p_value_ref(source, target, masks, 1.3, estimator == "unbiased")
    np.testing.assert_allclose(float(stat), observed, rtol=RTOL)
    assert float(p) == pytest.approx(expected_p, rel=1e-12)


def test_random_masks_are_uniform_subsets():
    masks = np.asarray(_random_source_masks(jax.random.key(0), jnp.ones(6, dtype=bool), 2, 3000))
    assert np.all(masks.sum(axis=1) == 2)
    # each row is in the source set with probability 2/6; all 15 subsets appear ~200 times
    np.testing.assert_allclose(masks.mean(axis=0), 1 / 3, atol=0.03)
    _, counts = np.unique(masks, axis=0, return_counts=True)
    assert len(counts) == 15
    assert stats.chisquare(counts).pvalue > 1e-3
    # with invalid rows, only valid rows are ever chosen
    valid = jnp.array([True, False, True, True, False, True])
    masks = np.asarray(_random_source_masks(jax.random.key(1), valid, 3, 200))
    assert np.all(masks.sum(axis=1) == 3) and not masks[:, [1, 4]].any()


def test_data_driven_bandwidth_is_resolved_once_on_the_pool():
    source, target = _sets(1, 6, 4)
    kernel = MultiGaussian(multipliers=(1.0,), bandwidth="mean")
    pooled = np.concatenate([source, target])
    d2 = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)
    sigma = math.sqrt(d2.mean())  # sigma^2 = 1 * mean(D) over the pool
    key = jax.random.key(2)
    stat, p = dstats.mmd_test(source, target, kernel=kernel, num_permutations=30, key=key)
    masks = np.asarray(_random_source_masks(key, jnp.ones(10, dtype=bool), 6, 30))
    observed, expected_p = p_value_ref(source, target, masks, sigma, unbiased=False)
    np.testing.assert_allclose(float(stat), observed, rtol=RTOL)
    assert float(p) == pytest.approx(expected_p, rel=1e-12)


def test_linear_kernel_statistic_is_mean_difference():
    source, target = _sets(3, 8, 5, d=3, shift=0.5)
    stat, p = dstats.mmd_test(
        source, target, kernel=Linear(), num_permutations=19, key=jax.random.key(0)
    )
    diff = source.mean(0) - target.mean(0)
    np.testing.assert_allclose(float(stat), float(diff @ diff), rtol=RTOL)
    assert 1 / 20 <= float(p) <= 1.0 and float(p) * 20 == pytest.approx(round(float(p) * 20))


def test_jit_vmap_and_grad_of_statistic():
    source, target = _sets(5, 9, 6)
    test = functools.partial(
        dstats.mmd_test, kernel=Gaussian(1.0), num_permutations=25, estimator="unbiased"
    )
    key = jax.random.key(0)
    eager = test(source, target, key=key)
    jitted = jax.jit(test)(source, target, key=key)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(float(a), float(b), rtol=1e-12)
    keys = jax.random.split(key, 3)
    batched = jax.vmap(lambda k: test(source, target, key=k))(keys)
    for i, k in enumerate(keys):
        assert float(batched[1][i]) == pytest.approx(float(test(source, target, key=k)[1]))
    grad = jax.grad(lambda s: test(s, target, key=key)[0])(source)
    assert np.all(np.isfinite(np.asarray(grad)))


# ----------------------------------------------------------------------------- calibration


def _null_sampler(key, n=30, d=2):
    ks, kt = jax.random.split(key)
    return jax.random.normal(ks, (n, d)), jax.random.normal(kt, (n, d))


@pytest.mark.parametrize(
    "kernel, estimator",
    [(MultiGaussian.dan(), "biased"), (Gaussian(bandwidth=1.0), "unbiased")],
    ids=["dan-biased", "gauss-unbiased"],
)
def test_null_rejection_rate_is_calibrated(kernel, estimator):
    trials, alpha = 500, 0.05
    rate = dstats.mmd_test_power(
        _null_sampler,
        kernel=kernel,
        num_permutations=199,
        num_trials=trials,
        alpha=alpha,
        estimator=estimator,
        key=jax.random.key(11),
    )
    lo, hi = stats.binom.interval(0.99, trials, alpha)
    assert lo <= float(rate) * trials <= hi


@pytest.mark.slow  # several compilations of whole simulations
def test_p_values_are_uniform_under_the_null():
    def one(key):
        data_key, perm_key = jax.random.split(key)
        return dstats.mmd_test(
            *_null_sampler(data_key, n=20),
            kernel=Gaussian(1.0),
            num_permutations=99,
            key=perm_key,
        )[1]

    p = np.asarray(jax.vmap(one)(jax.random.split(jax.random.key(3), 300)))
    assert p.min() >= 1 / 100 and p.max() <= 1.0
    # discrete uniform on {1..100}/100: compare with a continuous uniform at bin resolution
    assert stats.kstest(p - 0.005, "uniform").pvalue > 1e-3


def test_power_is_near_one_on_a_clear_shift():
    def shifted(key):
        source, target = _null_sampler(key)
        return source, target + 1.5

    power = dstats.mmd_test_power(
        shifted, kernel=Gaussian(1.0), num_permutations=99, num_trials=100, key=jax.random.key(0)
    )
    assert float(power) >= 0.98


# ----------------------------------------------------------------------------- power curves


def _shift_sampler(shift, size=24):
    def sampler(key):
        ks, kt = jax.random.split(key)
        return jax.random.normal(ks, (size, 1)), jax.random.normal(kt, (size, 1)) + shift

    return sampler


@pytest.mark.slow  # several compilations of whole simulations
def test_sample_sizes_prefix_matches_full_test_and_grows():
    sampler = _shift_sampler(0.8)
    kwargs = dict(kernel=Gaussian(1.0), num_permutations=39, num_trials=60, key=jax.random.key(1))
    full = dstats.mmd_test_power(sampler, **kwargs)
    curve = np.asarray(dstats.mmd_test_power(sampler, sample_sizes=[4, 12, 24], **kwargs))
    assert curve.shape == (3,)
    assert float(curve[-1]) == float(full)  # size 24 is the whole draw: the same tests
    assert curve[0] < curve[2]


@pytest.mark.slow  # several compilations of whole simulations
def test_required_sample_size_bisection():
    sampler = _shift_sampler(1.0, size=32)
    kwargs = dict(kernel=Gaussian(1.0), num_permutations=39, num_trials=60, key=jax.random.key(2))
    size = dstats.required_sample_size(sampler, power=0.8, **kwargs)
    assert size is not None and 2 <= size <= 32
    powers = np.asarray(dstats.mmd_test_power(sampler, sample_sizes=[size - 1, size], **kwargs))
    assert powers[1] >= 0.8
    assert size == 2 or powers[0] < 0.8
    # no shift: the target power is out of reach
    assert dstats.required_sample_size(_shift_sampler(0.0, size=32), power=0.9, **kwargs) is None


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_permutations=0), ValueError, r"`num_permutations` must be at least 1, got 0"),
        (dict(num_permutations=9.0), TypeError, r"`num_permutations` must be a Python int"),
        (dict(estimator="linear"), ValueError, r"`estimator` must be one of"),
        (dict(kernel=lambda x, y: x @ y.T), TypeError, r"`kernel` must be a dalib.kernels.Kernel"),
    ],
)
def test_option_errors(kwargs, error, match):
    options = dict(kernel=Gaussian(1.0), num_permutations=9, key=jax.random.key(0))
    options.update(kwargs)
    with pytest.raises(error, match=match):
        dstats.mmd_test(*_sets(0, 4, 3), **options)


@pytest.mark.parametrize(
    "source, target, estimator, match",
    [
        (np.zeros((4, 2)), np.zeros((3, 3)), "biased", r"same feature size.*\(4, 2\) and \(3, 3\)"),
        (np.zeros(4), np.zeros((3, 1)), "biased", r"`source` must be 2-D"),
        (np.zeros((0, 2)), np.zeros((3, 2)), "biased", r"`source` is empty"),
        (np.zeros((1, 2)), np.zeros((3, 2)), "unbiased", r"`source` has 1 samples"),
    ],
)
def test_shape_errors(source, target, estimator, match):
    with pytest.raises(ValueError, match=match):
        dstats.mmd_test(
            source,
            target,
            kernel=Gaussian(1.0),
            num_permutations=9,
            key=jax.random.key(0),
            estimator=estimator,
        )


def test_power_and_sample_size_errors():
    sampler = _shift_sampler(1.0, size=8)
    base = dict(kernel=Gaussian(1.0), num_permutations=9, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"`sample_sizes` must lie in \[1, 8\]"):
        dstats.mmd_test_power(sampler, sample_sizes=[2, 9], **base)
    with pytest.raises(TypeError, match=r"`sample_sizes` must hold integers"):
        dstats.mmd_test_power(sampler, sample_sizes=[2.0], **base)
    with pytest.raises(ValueError, match=r"`alpha` must lie in \(0, 1\)"):
        dstats.mmd_test_power(sampler, alpha=1.5, **base)
    with pytest.raises(ValueError, match=r"`num_trials` must be at least 1"):
        dstats.mmd_test_power(sampler, num_trials=0, **base)
    with pytest.raises(TypeError, match=r"`sampler\(key\)` must return a pair"):
        dstats.mmd_test_power(lambda k: jnp.zeros((3, 2)), **base)
    with pytest.raises(ValueError, match=r"`power` must lie in \(0, 1\)"):
        dstats.required_sample_size(sampler, power=1.0, **base)
    with pytest.raises(ValueError, match=r"`min_size`=9 exceeds the sampler's per-side size 8"):
        dstats.required_sample_size(sampler, min_size=9, **base)
