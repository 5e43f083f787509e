"""The extra alignment terms: each equals its loss, and trains what it should."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dalib import kernels, losses
from dalib import train as T
from dalib.nn import DomainDiscriminator, GaussianPosterior


def _outputs(n=7, m=5, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return T.Outputs(
        source_features=jnp.asarray(rng.normal(size=(n, d))),
        target_features=jnp.asarray(rng.normal(size=(m, d)) + 0.5),
        source_logits=jnp.asarray(rng.normal(size=(n, c))),
        target_logits=jnp.asarray(rng.normal(size=(m, c))),
        source_labels=jnp.asarray(rng.integers(0, c, n)),
        step=jnp.asarray(0),
    )


def _built(term, out):
    """The term with its network built, and the network's parameters."""
    spec = term.network_input(out)
    net = T.as_network(term.network, sample_input=spec)
    import dataclasses

    term = dataclasses.replace(term, network=net)
    return term, net.init(jax.random.key(0))


KEY = jax.random.key(1)


def _call(term, out, params=None):
    """``term(out, params, KEY)`` under ``jit`` (eager solver loops are slow)."""
    arrays = (
        out.source_features,
        out.target_features,
        out.source_logits,
        out.target_logits,
        out.source_labels,
    )

    @jax.jit
    def run(arrays, params):
        return term(T.Outputs(*arrays, jnp.asarray(0)), params, KEY)

    return run(arrays, params)


def test_ida_equals_the_loss():
    out = _outputs()
    value, _ = T.IDA(reg=0.5)(out, None, KEY)
    expected = losses.ida(out.source_features, out.target_features, reg=0.5)
    np.testing.assert_allclose(value, expected, rtol=1e-10)


def test_ida_class_wise_uses_argmax_of_the_target_softmax():
    out = _outputs()
    value, _ = T.IDA(reg=0.5, class_wise=True)(out, None, KEY)
    expected = losses.ida(
        out.source_features,
        out.target_features,
        reg=0.5,
        source_labels=out.source_labels,
        target_probs=out.target_probs,
    )
    np.testing.assert_allclose(value, expected, rtol=1e-10)


def test_joint_alignment_with_a_fixed_factor_is_the_convex_mix():
    out = _outputs()
    kernel = kernels.Gaussian(bandwidth=1.5)
    value, aux = T.JointAlignment(kernel=kernel, factor=0.25)(out, None, KEY)
    marginal = losses.mmd(out.source_features, out.target_features, kernel=kernel)
    conditional = losses.lmmd(
        out.source_features,
        out.target_features,
        out.source_labels,
        out.target_probs,
        num_classes=3,
        kernel=kernel,
    )
    np.testing.assert_allclose(value, 0.75 * marginal + 0.25 * conditional, rtol=1e-10)
    assert float(aux["factor"]) == 0.25


def test_joint_alignment_dynamic_factor_lies_in_unit_interval():
    out = _outputs(n=24, m=20)
    _, aux = _call(T.JointAlignment(), out)
    assert 0.0 <= float(aux["factor"]) <= 1.0


def test_sinkhorn_scales_features_by_sqrt_dim():
    out = _outputs()
    value, _ = _call(T.SinkhornDivergence(epsilon=0.1), out)
    d = out.source_features.shape[1]
    expected = jax.jit(
        functools.partial(losses.sinkhorn_divergence, epsilon=0.1, max_iterations=200)
    )(
        out.source_features / math.sqrt(d),
        out.target_features / math.sqrt(d),
    )
    np.testing.assert_allclose(value, expected, rtol=1e-8)
    raw, _ = _call(T.SinkhornDivergence(epsilon=0.1, normalize_dim=False), out)
    assert not np.isclose(float(raw), float(value))


def test_deepjdot_equals_jdot_on_scaled_features():
    out = _outputs()
    value, _ = _call(T.DeepJDOT(alpha=0.5, lam=2.0, epsilon=0.5), out)
    d = out.source_features.shape[1]
    jdot = functools.partial(losses.jdot, alpha=0.5, lam=2.0, epsilon=0.5, max_iterations=200)
    expected = jax.jit(jdot)(
        out.source_features / math.sqrt(d),
        out.target_features / math.sqrt(d),
        out.source_labels,
        out.target_logits,
    )
    np.testing.assert_allclose(value, expected, rtol=1e-8)


def test_slice_distance_uses_only_the_first_columns():
    out = _outputs()
    fn = functools.partial(losses.mmd, kernel=kernels.Linear())
    value, _ = T.SliceDistance(split=2, fn=fn)(out, None, KEY)
    s, t = np.asarray(out.source_features[:, :2]), np.asarray(out.target_features[:, :2])
    np.testing.assert_allclose(value, np.sum((s.mean(0) - t.mean(0)) ** 2), rtol=1e-10)


@pytest.mark.parametrize("split", [0, 6, 9])
def test_bad_split_is_rejected(split):
    with pytest.raises(ValueError, match="split"):
        T.SliceDistance(split=split)(_outputs(), None, KEY)


def test_club_split_value_and_gradient_routing():
    out = _outputs(d=6)
    term = T.CLUBSplit(
        split=2,
        network=T.from_nnx(lambda rngs: GaussianPosterior(2, 4, hidden=(8,), rngs=rngs)),
    )
    term, params = _built(term, out)
    value, aux = _call(term, out, params)
    u = jnp.concatenate([out.source_features[:, :2], out.target_features[:, :2]])
    v = jnp.concatenate([out.source_features[:, 2:], out.target_features[:, 2:]])
    mu, log_var = term.network.apply(params, u, train=False, rng=None)
    nll = -np.mean(np.asarray(losses.gaussian_log_likelihood(mu, log_var, v)))
    club = float(losses.club(mu, log_var, v))
    np.testing.assert_allclose(aux["nll"], nll, rtol=1e-8)
    np.testing.assert_allclose(aux["club"], club, rtol=1e-8)
    np.testing.assert_allclose(value, nll + club, rtol=1e-8)

    # The posterior's gradient is that of the likelihood only ...
    def total(p, feats):
        o = T.Outputs(
            feats[:7], feats[7:], out.source_logits, out.target_logits, out.source_labels, out.step
        )
        return term(o, p, KEY)[0]

    feats = jnp.concatenate([out.source_features, out.target_features])
    g_params = jax.jit(jax.grad(total))(params, feats)

    def nll_only(p):
        m_, s_ = term.network.apply(p, u, train=True, rng=KEY)
        return -jnp.mean(losses.gaussian_log_likelihood(m_, s_, v))

    expected = jax.jit(jax.grad(nll_only))(params)
    for a, b in zip(jax.tree.leaves(g_params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    # ... and the features' gradient is that of the CLUB estimate only.
    g_feats = jax.jit(jax.grad(total, argnums=1))(params, feats)

    def club_only(f):
        uu, vv = f[:, :2], f[:, 2:]
        m_, s_ = term.network.apply(params, uu, train=True, rng=KEY)
        return losses.club(m_, s_, vv)

    np.testing.assert_allclose(g_feats, jax.jit(jax.grad(club_only))(feats), rtol=1e-8, atol=1e-12)


def test_domain_classifier_is_cooperative():
    out = _outputs(d=6)
    term = T.DomainClassifier(
        split=2,
        network=T.from_nnx(
            lambda rngs: DomainDiscriminator(4, hidden=(8,), dropout=0.0, rngs=rngs)
        ),
    )
    term, params = _built(term, out)
    reversed_out = T.Outputs(
        out.source_features,
        out.target_features,
        out.source_logits,
        out.target_logits,
        out.source_labels,
        out.step,
        reverse=jnp.negative,
    )
    value, aux = term(out, params, KEY)
    z = term.network.apply(
        params,
        jnp.concatenate([out.source_features[:, 2:], out.target_features[:, 2:]]),
        train=False,
        rng=None,
    )
    np.testing.assert_allclose(value, losses.domain_adversarial(z[:7], z[7:]), rtol=1e-8)
    assert 0.0 <= float(aux["domain_accuracy"]) <= 1.0
    # No gradient reversal: `reverse` is never applied, so it cannot change the value.
    np.testing.assert_allclose(term(reversed_out, params, KEY)[0], value, rtol=1e-12)


def test_terms_train_in_make_trainer():
    rng = np.random.default_rng(0)
    data = T.Batch(
        jnp.asarray(rng.normal(size=(12, 5)), jnp.float32),
        jnp.asarray(rng.integers(0, 2, 12), jnp.int32),
        jnp.asarray(rng.normal(size=(10, 5)), jnp.float32),
    )
    terms = [
        T.SliceDistance(split=4),
        T.CLUBSplit(
            split=4,
            weight=0.1,
            network=T.from_nnx(lambda rngs: GaussianPosterior(4, 4, hidden=(4,), rngs=rngs)),
        ),
        T.DomainClassifier(
            split=4,
            weight=0.1,
            network=T.from_nnx(lambda rngs: DomainDiscriminator(4, hidden=(4,), rngs=rngs)),
        ),
        T.IDA(weight=0.5),
    ]
    trainer = T.make_trainer(
        encoder=T.from_nnx(lambda rngs: nnx.Linear(5, 8, rngs=rngs)),
        classifier=T.from_nnx(lambda rngs: nnx.Linear(8, 2, rngs=rngs)),
        optimizer=optax.adam(1e-2),
        example_batch=T.sample_batch(data, jax.random.key(0), batch_size=6),
        terms=terms,
    )
    state, metrics = T.train(trainer, data, jax.random.key(0), num_steps=3, batch_size=6)
    assert int(state.step) == 3
    for name in ("slice_distance/value", "club/club", "domain_classifier/value", "ida/value"):
        assert np.all(np.isfinite(np.asarray(metrics[name])))
    assert set(state.adversary_params) == {"club", "domain_classifier"}
