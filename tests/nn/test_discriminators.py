"""Tests for dalib.nn._discriminators: DomainDiscriminator and RegionDiscriminators."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dalib.nn import DomainDiscriminator, RegionDiscriminators

RTOL = 1e-5


def _features(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def _mlp_ref(layers, x):
    """Plain NumPy forward pass of Linear -> ReLU -> ... -> Linear (eval mode)."""
    h = np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def _linear_params(mlp):
    return [(np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])) for layer in mlp.layers]


def _binary_entropy_ref(z):
    p, q = 1.0 / (1.0 + math.exp(-z)), 1.0 / (1.0 + math.exp(z))  # q = 1 - p without cancellation
    return -p * math.log(p) - q * math.log(q)


# ----------------------------------------------------------------------------- DomainDiscriminator


@pytest.mark.parametrize("hidden", [(), (16, 8)])
def test_domain_discriminator_shape_and_numpy_forward(hidden):
    disc = DomainDiscriminator(5, hidden=hidden, rngs=nnx.Rngs(0))
    disc.eval()
    x = _features(0, 7, 5)
    out = disc(x)
    assert out.shape == (7,)
    np.testing.assert_allclose(
        np.asarray(out), _mlp_ref(_linear_params(disc.mlp), x)[:, 0], rtol=RTOL
    )


def test_default_is_dann_sized():
    disc = nnx.eval_shape(lambda: DomainDiscriminator(3, rngs=nnx.Rngs(0)))
    sizes = [layer.kernel.shape for layer in disc.mlp.layers]
    assert sizes == [(3, 1024), (1024, 1024), (1024, 1)]
    assert disc.mlp.dropout.rate == 0.5


def test_dropout_random_in_train_mode_deterministic_in_eval_mode():
    disc = DomainDiscriminator(5, hidden=(16, 8), dropout=0.5, rngs=nnx.Rngs(params=0, dropout=1))
    x = _features(1, 7, 5)
    a, b = np.asarray(disc(x)), np.asarray(disc(x))
    assert not np.allclose(a, b)  # fresh dropout masks per call
    disc.eval()
    c, d = np.asarray(disc(x)), np.asarray(disc(x))
    np.testing.assert_array_equal(c, d)
    np.testing.assert_allclose(c, _mlp_ref(_linear_params(disc.mlp), x)[:, 0], rtol=RTOL)
    disc.train()
    assert not np.allclose(np.asarray(disc(x)), c)


def test_nnx_jit_and_split_merge_match_eager():
    disc = DomainDiscriminator(5, hidden=(16, 8), rngs=nnx.Rngs(0))
    disc.eval()
    x = _features(2, 7, 5)
    eager = np.asarray(disc(x))
    np.testing.assert_allclose(np.asarray(nnx.jit(lambda m, v: m(v))(disc, x)), eager, rtol=1e-6)
    graphdef, state = nnx.split(disc)
    pure = jax.jit(lambda s, v: nnx.merge(graphdef, s)(v))
    np.testing.assert_allclose(np.asarray(pure(state, x)), eager, rtol=1e-6)


def test_gradients_reach_every_parameter():
    disc = DomainDiscriminator(5, hidden=(16, 8), rngs=nnx.Rngs(0))
    x = _features(3, 7, 5)
    labels = jnp.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])

    def loss(model):
        logits = model(x)
        return jnp.mean(jnp.logaddexp(0.0, logits) - labels * logits)

    grads = nnx.grad(loss)(disc)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert len(leaves) == 6
    assert all(np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0) for g in leaves)


def test_domain_discriminator_errors():
    disc = DomainDiscriminator(5, hidden=(16, 8), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`x` must have 5 features.*\(3, 4\)"):
        disc(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"`x` must be 2-D"):
        disc(np.zeros(5))
    with pytest.raises(TypeError, match="floating"):
        disc(np.zeros((3, 5), dtype=np.int32))
    with pytest.raises(ValueError, match=r"`dropout` must lie in \[0, 1\)"):
        DomainDiscriminator(4, dropout=1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`hidden` sizes must be positive"):
        DomainDiscriminator(4, hidden=(0,), rngs=nnx.Rngs(0))


# ----------------------------------------------------------------------------- RegionDiscriminators


def _region_ref(disc, regions):
    """Loop over regions, each its own NumPy MLP built from slice r of the stacked weights."""
    n, num_regions, _ = regions.shape
    out = np.zeros((n, num_regions))
    for r in range(num_regions):
        layers = [
            (np.asarray(layer.kernel[...])[r], np.asarray(layer.bias[...])[r])
            for layer in disc.region_layers
        ]
        out[:, r] = _mlp_ref(layers, regions[:, r, :])[:, 0]
    return out


@pytest.mark.parametrize("hidden", [(), (6, 4)])
def test_region_discriminators_match_per_region_loop(hidden):
    disc = RegionDiscriminators(3, 5, hidden=hidden, rngs=nnx.Rngs(0))
    disc.eval()
    regions = _features(4, 7, 3, 5)
    region_logits, sample_logits = disc(regions)
    assert region_logits.shape == (7, 3) and sample_logits.shape == (7,)
    np.testing.assert_allclose(np.asarray(region_logits), _region_ref(disc, regions), rtol=RTOL)
    flat = _mlp_ref(_linear_params(disc.sample.mlp), regions.reshape(7, 15))[:, 0]
    np.testing.assert_allclose(np.asarray(sample_logits), flat, rtol=RTOL)


def test_regions_have_independent_weights_and_inputs():
    disc = RegionDiscriminators(3, 5, hidden=(6, 4), rngs=nnx.Rngs(0))
    disc.eval()
    kernels = np.asarray(disc.region_layers[0].kernel[...])
    assert not np.allclose(kernels[0], kernels[1])
    regions = _features(5, 7, 3, 5)
    base, _ = disc(regions)
    changed = regions.copy()
    changed[:, 2] += 1.0
    moved, _ = disc(changed)
    untouched = [0, 1]
    np.testing.assert_allclose(np.asarray(moved)[:, untouched], np.asarray(base)[:, untouched])
    assert not np.allclose(np.asarray(moved)[:, 2], np.asarray(base)[:, 2])


def test_custom_sample_features():
    disc = RegionDiscriminators(
        2, 3, hidden=(4,), sample_features=5, sample_hidden=(7,), rngs=nnx.Rngs(1)
    )
    disc.eval()
    regions, pooled = _features(6, 4, 2, 3), _features(7, 4, 5)
    _, sample_logits = disc(regions, pooled)
    expected = _mlp_ref(_linear_params(disc.sample.mlp), pooled)[:, 0]
    np.testing.assert_allclose(np.asarray(sample_logits), expected, rtol=RTOL)
    assert disc.sample.mlp.layers[0].kernel.shape == (5, 7)


def test_region_dropout_and_jit():
    disc = RegionDiscriminators(3, 5, hidden=(6, 4), rngs=nnx.Rngs(params=0, dropout=2))
    regions = _features(8, 7, 3, 5)
    first, second = disc(regions)[0], disc(regions)[0]
    assert not np.allclose(np.asarray(first), np.asarray(second))
    disc.eval()
    eager = disc(regions)
    jitted = nnx.jit(lambda m, v: m(v))(disc, regions)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(disc(regions)[0]), np.asarray(eager[0]))


def test_attention_is_one_plus_binary_entropy():
    z = np.array([[-3.0, 0.0, 2.5], [40.0, -0.7, 1e-3]])
    s = np.array([0.3, -8.0])
    region_w, sample_w = RegionDiscriminators.attention(z, s)
    expected = [[1.0 + _binary_entropy_ref(v) for v in row] for row in z]
    np.testing.assert_allclose(np.asarray(region_w), expected, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(
        np.asarray(sample_w), [1.0 + _binary_entropy_ref(v) for v in s], rtol=RTOL
    )
    assert float(region_w[0, 1]) == pytest.approx(1.0 + math.log(2.0))
    assert np.all((np.asarray(region_w) >= 1.0) & (np.asarray(region_w) <= 1.0 + math.log(2.0)))
    # fixed weights by default, differentiable on request
    g = jax.grad(lambda v: jnp.sum(RegionDiscriminators.attention(v, s)[0]))(z)
    assert np.all(np.asarray(g) == 0.0)
    g = jax.grad(lambda v: jnp.sum(RegionDiscriminators.attention(v, s, stop_gradient=False)[0]))(z)
    assert np.asarray(g)[0, 0] > 0.0 and np.asarray(g)[0, 2] < 0.0


def test_region_discriminators_errors():
    disc = RegionDiscriminators(3, 4, hidden=(8,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`regions` must have shape \[n, 3, 4\], got \(2, 2, 4\)"):
        disc(np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"`regions` must have 4 features"):
        disc(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"`regions` must be 3-D"):
        disc(np.zeros((2, 12)))
    with pytest.raises(ValueError, match=r"`regions` and `sample_features` must have one entry"):
        disc(np.zeros((2, 3, 4)), np.zeros((3, 12)))
    with pytest.raises(ValueError, match=r"`sample_features` must have 12 features"):
        disc(np.zeros((2, 3, 4)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"`region_logits` and `sample_logits`"):
        RegionDiscriminators.attention(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="must be positive"):
        RegionDiscriminators(0, 4, rngs=nnx.Rngs(0))
