"""Tests for dalib.nn._critics: MICritic and GaussianPosterior."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dalib import losses
from dalib.nn import GaussianPosterior, MICritic

RTOL = 1e-5


def _features(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def _params(mlp):
    return [(np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])) for layer in mlp.layers]


def _mlp_ref(layers, v, activation=lambda h: np.maximum(h, 0.0)):
    h = np.asarray(v, dtype=np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = activation(h)
    return h


def _concat_layers(critic):
    """The concat critic's first layer as one Linear on [x; y], then the rest."""
    w = np.concatenate(
        [np.asarray(critic.x_in.kernel[...]), np.asarray(critic.y_in.kernel[...])], axis=0
    )
    first = (w, np.asarray(critic.x_in.bias[...]))
    return [first] + ([] if critic.rest is None else _params(critic.rest))


def test_separable_scores_match_pairwise_loop():
    critic = MICritic(3, 2, kind="separable", hidden=(8, 6), embed_dim=5, rngs=nnx.Rngs(0))
    x, y = _features(0, 6, 3), _features(1, 4, 2)
    scores = np.asarray(critic(x, y))
    assert scores.shape == (6, 4)
    expected = np.zeros((6, 4))
    for i in range(6):
        for j in range(4):
            gx = _mlp_ref(_params(critic.g), x[i : i + 1])[0]
            hy = _mlp_ref(_params(critic.h), y[j : j + 1])[0]
            expected[i, j] = float(np.dot(gx, hy))
    np.testing.assert_allclose(scores, expected, rtol=RTOL)


@pytest.mark.parametrize("hidden", [(), (8, 6)])
def test_concat_scores_match_mlp_on_concatenated_pairs(hidden):
    critic = MICritic(3, 2, kind="concat", hidden=hidden, rngs=nnx.Rngs(1))
    x, y = _features(2, 5, 3), _features(3, 4, 2)
    scores = np.asarray(critic(x, y))
    assert scores.shape == (5, 4)
    layers = _concat_layers(critic)
    expected = np.zeros((5, 4))
    for i in range(5):
        for j in range(4):
            pair = np.concatenate([x[i], y[j]])[None, :]
            expected[i, j] = _mlp_ref(layers, pair)[0, 0]
    np.testing.assert_allclose(scores, expected, rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("kind", ["separable", "concat"])
def test_critic_jit_split_merge_and_feeds_the_bounds(kind):
    critic = MICritic(3, 2, kind=kind, hidden=(8, 6), embed_dim=5, rngs=nnx.Rngs(0))
    x, y = _features(4, 6, 3), _features(5, 6, 2)
    eager = np.asarray(critic(x, y))
    np.testing.assert_allclose(
        np.asarray(nnx.jit(lambda m, a, b: m(a, b))(critic, x, y)), eager, rtol=1e-6
    )
    graphdef, params, rest = nnx.split(critic, nnx.Param, ...)

    def bound(p):
        return losses.infonce(nnx.merge(graphdef, p, rest)(x, y))

    value, grads = jax.jit(jax.value_and_grad(bound))(params)
    assert value <= math.log(6) + 1e-9
    leaves = jax.tree.leaves(grads)
    assert leaves and all(np.all(np.isfinite(np.asarray(g))) for g in leaves)


def test_critic_errors():
    with pytest.raises(ValueError, match="unknown critic kind 'bilinear'"):
        MICritic(2, 2, kind="bilinear", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`embed_dim` must be positive"):
        MICritic(2, 2, embed_dim=0, rngs=nnx.Rngs(0))
    critic = MICritic(2, 3, hidden=(4,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`y` must have 3 features.*\(5, 2\)"):
        critic(np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"`x` must be 2-D"):
        critic(np.zeros(2), np.zeros((5, 3)))


@pytest.mark.parametrize("scale", [5.0, 1.0, None])
def test_gaussian_posterior_outputs(scale):
    q = GaussianPosterior(3, 2, hidden=(8,), log_var_scale=scale, rngs=nnx.Rngs(0))
    x = 10.0 * _features(6, 7, 3)
    mu, log_var = q(x)
    assert mu.shape == (7, 2) and log_var.shape == (7, 2)
    np.testing.assert_allclose(np.asarray(mu), _mlp_ref(_params(q.mu), x), rtol=RTOL)
    raw = _mlp_ref(_params(q.log_var), x)
    expected = raw if scale is None else scale * np.tanh(raw / scale)
    np.testing.assert_allclose(np.asarray(log_var), expected, rtol=RTOL, atol=1e-9)
    if scale is not None:
        assert np.all(np.abs(np.asarray(log_var)) <= scale)


def test_gaussian_posterior_jit_and_club_gradient():
    q = GaussianPosterior(3, 2, hidden=(8,), rngs=nnx.Rngs(0))
    x, y = _features(7, 7, 3), _features(8, 7, 2)
    mu, log_var = q(x)
    mu_j, log_var_j = nnx.jit(lambda m, v: m(v))(q, x)
    np.testing.assert_allclose(np.asarray(mu_j), np.asarray(mu), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(log_var_j), np.asarray(log_var), rtol=1e-6)
    grads = nnx.grad(lambda m: -jnp.mean(losses.gaussian_log_likelihood(*m(x), y)))(q)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert len(leaves) == 8 and all(np.all(np.isfinite(np.asarray(g))) for g in leaves)


def test_gaussian_posterior_errors():
    with pytest.raises(ValueError, match="`log_var_scale` must be positive"):
        GaussianPosterior(2, 2, log_var_scale=0.0, rngs=nnx.Rngs(0))
    q = GaussianPosterior(3, 2, hidden=(8,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`x` must have 3 features.*\(3, 4\)"):
        q(np.zeros((3, 4)))
