"""dalib.train networks: NNX, Linen and plain functions behind one interface."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dalib import train as T


class _NNXBlock(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(3, 4, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.dropout(nnx.relu(self.linear(x)))


class _LinenBlock(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(4)(x)))


X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)


def _reference(kernel, bias, x):
    return np.maximum(x @ np.asarray(kernel) + np.asarray(bias), 0.0)


def test_nnx_module_instance():
    block = _NNXBlock(nnx.Rngs(0))
    net = T.from_nnx(block)
    assert net.kind == "nnx"
    p0, p1 = net.init(jax.random.key(0)), net.init(jax.random.key(1))
    np.testing.assert_array_equal(p0["linear"]["kernel"], p1["linear"]["kernel"])
    np.testing.assert_array_equal(p0["linear"]["kernel"], block.linear.kernel[...])
    out = net.apply(p0, X, train=False, rng=None)
    np.testing.assert_allclose(
        out, _reference(block.linear.kernel[...], block.linear.bias[...], X), rtol=1e-6
    )
    assert T.as_network(block).kind == "nnx"


def test_nnx_constructor_is_seeded_and_dropout_follows_rng():
    net = T.from_nnx(_NNXBlock)
    p0, p1 = net.init(jax.random.key(0)), net.init(jax.random.key(1))
    assert not np.allclose(p0["linear"]["kernel"], p1["linear"]["kernel"])
    # Same key as building the module directly.
    direct = _NNXBlock(nnx.Rngs(jax.random.key(0)))
    np.testing.assert_array_equal(p0["linear"]["kernel"], direct.linear.kernel[...])
    apply = jax.jit(net.apply, static_argnames="train")
    a = apply(p0, X, train=True, rng=jax.random.key(5))
    b = apply(p0, X, train=True, rng=jax.random.key(5))
    c = apply(p0, X, train=True, rng=jax.random.key(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    clean = _reference(p0["linear"]["kernel"], p0["linear"]["bias"], X)
    kept = np.asarray(a) != 0
    np.testing.assert_allclose(np.asarray(a)[kept], 2.0 * clean[kept], rtol=1e-6)  # 1/(1-rate)
    np.testing.assert_allclose(apply(p0, X, train=False, rng=None), clean, rtol=1e-6)
    # Gradients flow to the parameter dict.
    g = jax.grad(lambda p: net.apply(p, X, train=False, rng=None).sum())(p0)
    assert g["linear"]["kernel"].shape == (3, 4)


def test_linen_module():
    net = T.from_linen(_LinenBlock(), X[:1], train_kwarg="train")
    assert net.kind == "linen"
    params = net.init(jax.random.key(0))
    k, b = params["Dense_0"]["kernel"], params["Dense_0"]["bias"]
    np.testing.assert_allclose(
        net.apply(params, X, train=False, rng=None), _reference(k, b, X), rtol=1e-6
    )
    a = net.apply(params, X, train=True, rng=jax.random.key(1))
    c = net.apply(params, X, train=True, rng=jax.random.key(2))
    assert not np.array_equal(a, c)
    # A module without a mode keyword works too; as_network needs the sample input.
    dense = T.as_network(nn.Dense(2), sample_input=jax.ShapeDtypeStruct((1, 3), jnp.float32))
    assert dense.apply(dense.init(jax.random.key(0)), X, train=True, rng=None).shape == (6, 2)


def test_plain_function():
    def apply(p, x):
        return jnp.maximum(x @ p["w"] + p["b"], 0.0)

    w = np.ones((3, 4), np.float32)
    net = T.from_function(apply, params={"w": w, "b": np.zeros(4, np.float32)})
    np.testing.assert_allclose(
        net.apply(net.init(jax.random.key(0)), X, train=True, rng=None),
        _reference(w, np.zeros(4), X),
        rtol=1e-6,
    )
    seeded = T.as_network((apply, lambda k: {"w": jax.random.normal(k, (3, 4)), "b": jnp.zeros(4)}))
    assert not np.allclose(seeded.init(jax.random.key(0))["w"], seeded.init(jax.random.key(1))["w"])


def test_batch_statistics_are_rejected():
    class WithBN(nnx.Module):
        def __init__(self, rngs):
            self.bn = nnx.BatchNorm(3, rngs=rngs)

        def __call__(self, x):
            return self.bn(x)

    with pytest.raises(ValueError, match=r"BatchStat.*LayerNorm"):
        T.from_nnx(WithBN)
    with pytest.raises(ValueError, match="batch_stats"):
        T.from_linen(nn.BatchNorm(use_running_average=True), X[:1])


def test_bad_networks():
    with pytest.raises(TypeError, match=r"nnx\.Module"):
        T.as_network("not a network", name="encoder")
    with pytest.raises(TypeError, match="from_nnx"):
        T.as_network(lambda rngs: None, name="encoder")
    with pytest.raises(ValueError, match="sample input"):
        T.as_network(nn.Dense(2))
    with pytest.raises(ValueError, match="exactly one"):
        T.from_function(lambda p, x: x)
    with pytest.raises(TypeError, match=r"must return an nnx\.Module"):
        T.from_nnx(lambda rngs: 3)
