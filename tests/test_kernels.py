"""Tests for dalib.kernels against plain NumPy loops."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dalib.kernels import (
    Gaussian,
    InverseMultiquadric,
    Laplacian,
    Linear,
    MultiGaussian,
    pairwise_sq_dists,
    rowwise_sq_dists,
)


def sq(a, b):
    return float(np.sum((a - b) ** 2))


CASES = {
    "gaussian": (Gaussian(bandwidth=1.3), lambda a, b: math.exp(-sq(a, b) / (2 * 1.3**2))),
    "laplacian": (Laplacian(bandwidth=0.8), lambda a, b: math.exp(-math.sqrt(sq(a, b)) / 0.8)),
    "imq": (InverseMultiquadric(scale=2.0, power=0.7), lambda a, b: (1 + sq(a, b) / 4.0) ** -0.7),
    "linear": (Linear(), lambda a, b: float(np.dot(a, b))),
    "multi": (
        MultiGaussian(multipliers=(0.5, 1.0, 4.0), bandwidth=0.6),
        lambda a, b: sum(math.exp(-sq(a, b) / (2 * mult * 0.6)) for mult in (0.5, 1.0, 4.0)),
    ),
}


def data(n=6, m=4, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5


@pytest.mark.parametrize("name", sorted(CASES))
def test_gram_matches_numpy_loops(name):
    kernel, ref = CASES[name]
    x, y = data()
    want = np.array([[ref(a, b) for b in y] for a in x])
    got = kernel(x, y)
    assert got.shape == (6, 4)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pairwise_is_diagonal_of_gram(name):
    kernel, _ = CASES[name]
    x, y = data(n=5, m=5, seed=1)
    np.testing.assert_allclose(kernel.pairwise(x, y), np.diag(kernel(x, y)), rtol=1e-10)


def test_squared_distances_match_loops_and_are_nonnegative():
    x, y = data(seed=2)
    want = np.array([[sq(a, b) for b in y] for a in x])
    np.testing.assert_allclose(pairwise_sq_dists(x, y), want, rtol=1e-10)
    flipped = x[::-1]
    want_rows = [sq(x[i], flipped[i]) for i in range(len(x))]
    np.testing.assert_allclose(rowwise_sq_dists(x, flipped), want_rows)
    assert float(jnp.min(pairwise_sq_dists(x, x))) >= 0.0


@pytest.mark.parametrize(
    "kernel",
    [
        Gaussian(bandwidth=2.0),
        Laplacian(bandwidth=0.5),
        InverseMultiquadric(scale=1.5, power=0.3),
        Linear(),
        MultiGaussian(multipliers=(1.0, 2.0), bandwidth=0.7),
        MultiGaussian.dan(),
    ],
    ids=["gaussian", "laplacian", "imq", "linear", "multi_fixed", "dan"],
)
def test_pytree_round_trip_and_jit(kernel):
    leaves, treedef = jax.tree_util.tree_flatten(kernel)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(kernel)
    assert rebuilt == kernel
    x, y = data(seed=3)
    jitted = jax.jit(lambda k, a, b: k(a, b))(kernel, x, y)
    np.testing.assert_allclose(jitted, kernel(x, y), rtol=1e-12)


def test_rule_strings_are_static_and_numbers_are_leaves():
    assert jax.tree_util.tree_leaves(MultiGaussian.dan()) == []
    assert jax.tree_util.tree_leaves(MultiGaussian(bandwidth=0.5)) == [0.5]
    assert jax.tree_util.tree_leaves(Gaussian(bandwidth=2.0)) == [2.0]


def test_vmap_over_bandwidth():
    x, y = data(seed=4)
    sigmas = jnp.array([0.5, 1.0, 2.0])
    grams = jax.vmap(lambda s: Gaussian(bandwidth=s)(x, y))(sigmas)
    assert grams.shape == (3, 6, 4)
    for i, s in enumerate([0.5, 1.0, 2.0]):
        want = np.array([[math.exp(-sq(a, b) / (2 * s * s)) for b in y] for a in x])
        np.testing.assert_allclose(grams[i], want, rtol=1e-10)
    bases = jax.vmap(lambda b: MultiGaussian(bandwidth=b)(x, y))(sigmas)
    np.testing.assert_allclose(bases[1], MultiGaussian(bandwidth=1.0)(x, y), rtol=1e-12)


def pooled_sq_dists(x, y):
    z = np.concatenate([x, y])
    return [[sq(a, b) for b in z] for a in z], len(z)


def test_dan_rule_is_tllib_mean_of_all_pairs():
    x, y = data(seed=5)
    d2, n = pooled_sq_dists(x, y)
    mean_all = sum(map(sum, d2)) / n**2  # (n+m)^2 entries, diagonal included
    resolved = MultiGaussian.dan().resolve(x, y)
    assert abs(float(resolved.bandwidth) - mean_all) <= 1e-10 * mean_all
    # TLlib: sigma_k^2 = 2^k mean(D), k = -3..1, exp(-D / (2 sigma_k^2)), summed
    a, b = x[0], y[1]
    want = sum(math.exp(-sq(a, b) / (2 * 2.0**k * mean_all)) for k in range(-3, 2))
    assert abs(float(resolved(a[None], b[None])[0, 0]) - want) <= 1e-10


def test_dsan_rule_is_deepda_bandwidth_list():
    x, y = data(seed=6)
    d2, n = pooled_sq_dists(x, y)
    bw = sum(map(sum, d2)) / (n**2 - n)  # DeepDA: sum(D) / (N^2 - N)
    resolved = MultiGaussian.dsan().resolve(x, y)
    a, b = x[2], y[0]
    # DeepDA: bandwidth /= 2 ** (5 // 2); kernels exp(-D / (bandwidth * 2 ** i)), i = 0..4
    want = sum(math.exp(-sq(a, b) / (bw / 4 * 2.0**i)) for i in range(5))
    assert abs(float(resolved(a[None], b[None])[0, 0]) - want) <= 1e-10


def test_median_rule():
    x, y = data(seed=7)
    d2, n = pooled_sq_dists(x, y)
    upper = [d2[i][j] for i in range(n) for j in range(i + 1, n)]
    resolved = jax.jit(MultiGaussian(multipliers=(1.0,), bandwidth="median").resolve)(x, y)
    # sigma^2 = median / 2, so that k = exp(-D / median)
    assert abs(float(resolved.bandwidth) - float(np.median(upper)) / 2) <= 1e-10


def test_unresolved_kernel_pools_its_arguments():
    x, y = data(seed=8)
    direct = MultiGaussian.dan()(x, y)
    resolved = MultiGaussian.dan().resolve(x, y)
    np.testing.assert_allclose(direct, resolved(x, y), rtol=1e-12)


def test_rules_carry_no_gradient_and_survive_a_collapsed_batch():
    x, y = data(seed=9)
    g = jax.grad(lambda a: MultiGaussian.dan().resolve(a, y).bandwidth)(x)
    assert np.all(g == 0)
    same = np.ones((4, 3))  # all points coincide: every rule sees zero spread

    @jax.jit
    def grams(a):
        rules = ("mean", "dsan", "median")
        return jnp.stack([MultiGaussian(multipliers=(1.0, 2.0), bandwidth=r)(a, a) for r in rules])

    np.testing.assert_allclose(grams(same), 2.0 * np.ones((3, 4, 4)))


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="unknown bandwidth rule 'mode'"):
        MultiGaussian(bandwidth="mode")
    with pytest.raises(ValueError, match="at least one multiplier"):
        MultiGaussian(multipliers=())
    with pytest.raises(ValueError, match="must be resolved on data first"):
        MultiGaussian.dan().from_sq_dists(jnp.zeros((2, 2)))
    with pytest.raises(TypeError, match="not a function of distances"):
        Linear().from_sq_dists(jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="'median' bandwidth rule needs at least 2"):
        MultiGaussian(bandwidth="median").resolve(np.ones((1, 2)))


@pytest.mark.parametrize("side", [64, 256])
def test_doubling_ladder_values_and_one_exp_on_large_matrices(side):
    # DAN's ladder (2^-3..2^1) is computed as one exp and squarings. XLA folds
    # exp(a) * exp(a) back into exp(a + a); from 256 x 256 entries on a barrier
    # keeps the single exp (MMD panels). Both give the plain sum of five exps.
    kernel = MultiGaussian(multipliers=(0.125, 0.25, 0.5, 1.0, 2.0), bandwidth=0.8)
    d2 = jnp.asarray(np.random.default_rng(0).uniform(0.0, 6.0, (side, side)), jnp.float32)
    plain = sum(np.exp(-np.asarray(d2, np.float64) / (2.0 * m * 0.8)) for m in kernel.multipliers)
    fn = jax.jit(kernel.from_sq_dists)
    np.testing.assert_allclose(fn(d2), plain, rtol=4e-6, atol=1e-30)
    if side == 256:
        assert fn.lower(d2).compile().as_text().count("exponential(") == 1
