"""RegionAttentionEncoder (TANN's encoder) and the RegionAdversarial term."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dalib.nn import RegionAttentionEncoder
from dalib.train import Outputs, RegionAdversarial

GROUPS = np.array([2, 0, 0, 1, 1, 1, 2, 0])  # unequal, interleaved regions: sizes 3, 3, 2


def _encoder(groups=GROUPS, **kwargs):
    kwargs = {"region_hidden": (4,), "disc_hidden": (5,), "disc_dropout": 0.0, **kwargs}
    return RegionAttentionEncoder(groups, 6, rngs=nnx.Rngs(0), **kwargs)


def _x(n=7, d=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_shapes_and_split():
    enc = _encoder()
    assert enc.num_regions == 3 and enc.region_sizes == (3, 3, 2)
    out = enc(_x())
    assert out.shape == (7, 6 + 3 + 1) == (7, enc.output_features)
    feats, region_logits, sample_logits = enc.split(out)
    assert feats.shape == (7, 6) and region_logits.shape == (7, 3) and sample_logits.shape == (7,)
    assert enc.regions(_x()).shape == (7, 3, 4)


def _layer_norm(h, scale, bias, eps=1e-6):
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    return (h - mu) / np.sqrt(var + eps) * scale + bias


def test_region_features_use_only_their_own_columns():
    """A NumPy reference per region: its columns, its weights; padding changes nothing."""
    enc = _encoder()
    x = _x()
    got = np.asarray(enc.regions(x))
    kernel = np.asarray(enc.region_layers[0].kernel[...])
    bias = np.asarray(enc.region_layers[0].bias[...])
    norm = enc.region_norms[0]
    for r, g in enumerate(np.unique(GROUPS)):
        cols = np.flatnonzero(GROUPS == g)
        h = x[:, cols] @ kernel[r, : len(cols)] + bias[r]
        h = np.maximum(_layer_norm(h, np.asarray(norm.scale[...]), np.asarray(norm.bias[...])), 0)
        np.testing.assert_allclose(got[:, r], h, rtol=1e-4, atol=1e-5)
    # Changing the columns of region 1 moves region 1's features only.
    x2 = x.copy()
    x2[:, GROUPS == 1] += 3.0
    moved = np.asarray(enc.regions(x2))
    np.testing.assert_allclose(moved[:, [0, 2]], got[:, [0, 2]], rtol=1e-6)
    assert not np.allclose(moved[:, 1], got[:, 1])


def test_attention_weights_lie_in_range_and_scale_the_features():
    enc = _encoder()
    x = _x(n=50)
    _, region_logits, sample_logits = enc.split(enc(x))
    from dalib.losses import transferability_attention

    for logits in (region_logits, sample_logits):
        a = np.asarray(transferability_attention(logits))
        assert np.all(a >= 1.0) and np.all(a <= 1.0 + math.log(2) + 1e-6)
    # The output feature is the global attention times the pooled feature.
    h = enc.regions(x)
    local = transferability_attention(enc.discriminators.region_logits(h))
    g = enc.pool((local[..., None] * h).reshape(50, -1))
    g = nnx.relu(enc.pool_norm(g))
    expected = transferability_attention(enc.discriminators.sample(g))[:, None] * g
    np.testing.assert_allclose(enc.split(enc(x))[0], expected, rtol=1e-5, atol=1e-6)


def test_gradient_reaches_the_region_encoders_reversed():
    """d(region logits)/d(region weights) through the module = minus the plain chain."""
    enc = _encoder()
    x = jnp.asarray(_x())
    graph, params, rest = nnx.split(enc, nnx.Param, ...)

    def through_module(p):
        m = nnx.merge(graph, p, rest)
        return jnp.sum(m.split(m(x))[1])

    def plain(p):
        m = nnx.merge(graph, p, rest)
        return jnp.sum(m.discriminators.region_logits(m.regions(x)))

    g_mod, g_plain = jax.grad(through_module)(params), jax.grad(plain)(params)
    k_mod = g_mod["region_layers"][0]["kernel"][...]
    k_plain = g_plain["region_layers"][0]["kernel"][...]
    assert float(jnp.abs(k_plain).max()) > 0
    np.testing.assert_allclose(k_mod, -k_plain, rtol=1e-5, atol=1e-7)
    # the discriminators themselves descend as usual
    d_mod = g_mod["discriminators"]["region_layers"][0]["kernel"][...]
    d_plain = g_plain["discriminators"]["region_layers"][0]["kernel"][...]
    np.testing.assert_allclose(d_mod, d_plain, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "groups,error,match",
    [
        (np.zeros(8, int), ValueError, "single region"),
        (np.zeros((2, 4), int), ValueError, "non-empty"),
        (np.linspace(0, 1, 8), TypeError, "integers"),
    ],
)
def test_bad_groups_are_refused(groups, error, match):
    with pytest.raises(error, match=match):
        _encoder(groups)


def test_wrong_input_width_is_refused():
    with pytest.raises(ValueError, match="8 feature columns"):
        _encoder()(_x(d=9))


def _outputs(fs, ft):
    return Outputs(
        source_features=jnp.asarray(fs),
        target_features=jnp.asarray(ft),
        source_logits=jnp.zeros((len(fs), 2)),
        target_logits=jnp.zeros((len(ft), 2)),
        source_labels=jnp.zeros(len(fs), jnp.int32),
        step=jnp.int32(0),
    )


def _bce_ref(zs, zt):
    s = np.mean([math.log1p(math.exp(-z)) for z in zs])
    t = np.mean([math.log1p(math.exp(z)) for z in zt])
    return s + t


def test_region_adversarial_value_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    d, r = 2, 3
    fs, ft = rng.normal(size=(5, d + r + 1)), rng.normal(size=(4, d + r + 1))
    value, aux = RegionAdversarial(feature_dim=d, num_regions=r)(_outputs(fs, ft), None, None)
    regions = np.mean([_bce_ref(fs[:, d + k], ft[:, d + k]) for k in range(r)])
    expected = regions + _bce_ref(fs[:, d + r], ft[:, d + r])
    assert float(value) == pytest.approx(expected, rel=1e-6)
    acc = 0.5 * (np.mean(fs[:, d + r] >= 0) + np.mean(ft[:, d + r] < 0))
    assert float(aux["domain_accuracy"]) == pytest.approx(acc)
    assert 1.0 <= float(aux["region_attention"]) <= 1.0 + math.log(2)
    with pytest.raises(ValueError, match="columns"):
        RegionAdversarial(feature_dim=d, num_regions=r + 1)(_outputs(fs, ft), None, None)
