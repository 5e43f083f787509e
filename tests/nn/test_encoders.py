"""Encoders of dalib.nn: output shapes, modes, masks and input checks.

Shape tests trace abstractly (``jax.eval_shape``: nothing is compiled); numeric
tests run under ``nnx.jit`` to compile each encoder once.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dalib.nn import MLPEncoder, SegmentTransformer, SpectrogramCNN


@pytest.mark.parametrize(
    ("in_features", "hidden", "layer_norm"),
    [(384, (64, 32), True), (1582, (16,), False), (88, (8, 8, 4), True)],
)
def test_mlp_output_shape(in_features, hidden, layer_norm):
    def run(x):
        enc = MLPEncoder(in_features, hidden, layer_norm=layer_norm, rngs=nnx.Rngs(0))
        assert enc.out_features == hidden[-1]
        return enc(x)

    out = jax.eval_shape(run, jax.ShapeDtypeStruct((7, in_features), jnp.float32))
    assert out.shape == (7, hidden[-1])


@pytest.mark.parametrize(
    ("shape", "in_channels", "channels"),
    [((3, 40, 64), 1, (8, 16)), ((2, 64, 33, 1), 1, (8,)), ((2, 32, 32, 3), 3, (8, 8, 8))],
)
def test_cnn_output_shape(shape, in_channels, channels):
    def run(x):
        enc = SpectrogramCNN(in_channels, channels, out_features=12, groups=4, rngs=nnx.Rngs(0))
        assert enc.out_features == 12
        return enc(x)

    assert jax.eval_shape(run, jax.ShapeDtypeStruct(shape, jnp.float32)).shape == (shape[0], 12)


@pytest.mark.parametrize(("n", "length", "layers"), [(3, 25, 1), (1, 7, 2)])
def test_transformer_output_shape(n, length, layers):
    def run(x):
        enc = SegmentTransformer(
            40, model_dim=16, num_heads=4, num_layers=layers, mlp_dim=32, rngs=nnx.Rngs(0)
        )
        assert enc.out_features == 16
        return enc(x)

    out = jax.eval_shape(run, jax.ShapeDtypeStruct((n, length, 40), jnp.float32))
    assert out.shape == (n, 16)


def test_transformer_mask_and_order():
    enc = SegmentTransformer(6, model_dim=8, num_heads=2, num_layers=2, rngs=nnx.Rngs(0))
    run = nnx.jit(lambda m, x, mask: m(x, mask=mask))
    x = jax.random.normal(jax.random.key(0), (3, 9, 6))
    mask = jnp.arange(9)[None, :] < jnp.array([[5], [9], [9]])
    # Whatever sits in masked-out steps must not change the features.
    noise = 100.0 * jax.random.normal(jax.random.key(1), x.shape)
    other = jnp.where(mask[..., None], x, noise)
    a, b = run(enc, x, mask), run(enc, other, mask)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # Row 2 is row 1 reversed in time: position codes make the order matter.
    rev = x.at[2].set(x[1, ::-1])
    c = run(enc, rev, mask)
    assert not np.allclose(c[1], c[2], atol=1e-3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (MLPEncoder(5, (8,), dropout=0.5, rngs=nnx.Rngs(0)), (4, 5)),
        lambda: (
            SegmentTransformer(
                3, model_dim=8, num_heads=2, num_layers=1, dropout=0.5, rngs=nnx.Rngs(0)
            ),
            (2, 5, 3),
        ),
    ],
)
def test_dropout_only_in_training_mode(make):
    enc, shape = make()
    run = nnx.jit(lambda m, x: m(x))
    x = jax.random.normal(jax.random.key(0), shape)
    a, b = run(enc, x), run(enc, x)  # training mode: the dropout stream advances
    assert not np.allclose(a, b)
    frozen = nnx.view(enc, deterministic=True)
    np.testing.assert_array_equal(run(frozen, x), run(frozen, x))


def test_mlp_matches_numpy():
    enc = MLPEncoder(3, (4, 2), layer_norm=False, rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).normal(size=(5, 3))
    h = x
    for layer in enc.linears:
        h = np.maximum(h @ np.asarray(layer.kernel[...]) + np.asarray(layer.bias[...]), 0.0)
    np.testing.assert_allclose(nnx.jit(lambda m, x: m(x))(enc, x), h, rtol=1e-5)


@pytest.mark.parametrize(
    ("make", "x", "match"),
    [
        (lambda: MLPEncoder(4, (8,), rngs=nnx.Rngs(0)), jnp.ones((2, 5)), r"4 features.*\(2, 5\)"),
        (lambda: MLPEncoder(4, (8,), rngs=nnx.Rngs(0)), jnp.ones((2, 3, 4)), r"2-D.*\(2, 3, 4\)"),
        (
            lambda: SpectrogramCNN(1, (4, 4), groups=2, rngs=nnx.Rngs(0)),
            jnp.ones((2, 3, 16)),
            r"at least 4",
        ),
        (
            lambda: SpectrogramCNN(2, (4,), groups=2, rngs=nnx.Rngs(0)),
            jnp.ones((2, 8, 8, 3)),
            r"\[n, freq, time, 2\]",
        ),
        (
            lambda: SegmentTransformer(4, model_dim=8, num_heads=2, rngs=nnx.Rngs(0)),
            jnp.ones((2, 4)),
            r"3-D",
        ),
    ],
)
def test_bad_input_shapes(make, x, match):
    enc = nnx.eval_shape(make)  # the checks run before any parameter is touched
    with pytest.raises(ValueError, match=match):
        enc(x)


def test_bad_input_dtype_and_config():
    with pytest.raises(TypeError, match="floating"):
        nnx.eval_shape(lambda: MLPEncoder(3, (4,), rngs=nnx.Rngs(0)))(jnp.ones((2, 3), jnp.int32))
    with pytest.raises(ValueError, match="num_heads"):
        SegmentTransformer(4, model_dim=10, num_heads=4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="groups"):
        SpectrogramCNN(1, (6,), groups=4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="at least one"):
        MLPEncoder(3, (), rngs=nnx.Rngs(0))
    enc = nnx.eval_shape(
        lambda: SegmentTransformer(4, model_dim=8, num_heads=2, num_layers=1, rngs=nnx.Rngs(0))
    )
    with pytest.raises(ValueError, match="mask"):
        enc(jnp.ones((2, 5, 4)), mask=jnp.ones((2, 4), bool))
