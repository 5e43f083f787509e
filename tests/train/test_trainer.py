"""dalib.train.make_trainer: the step, its gradients, its terms and its build-time checks."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dalib import kernels, losses, ops
from dalib import train as T
from dalib.nn import DomainDiscriminator

RNG = np.random.default_rng(0)
N, M, D_IN, D, C = 6, 5, 2, 3, 2
XS = RNG.normal(size=(N, D_IN))
YS = np.array([0, 1, 0, 1, 1, 0], np.int32)
XT = RNG.normal(size=(M, D_IN)) + 1.0
BATCH = T.Batch(XS, YS, XT)
KEY = jax.random.key(0)


def _linear(shape, scale=0.5):
    return lambda k: {"w": scale * jax.random.normal(k, shape)}


# Deterministic plain-function networks (float64), so every value can be recomputed by hand.
ENC = T.from_function(lambda p, x: jnp.tanh(x @ p["w"]), init=_linear((D_IN, D)))
CLS = T.from_function(lambda p, x: x @ p["w"], init=_linear((D, C)))
DISC = T.from_function(
    lambda p, f: jnp.tanh(f @ p["a"]) @ p["b"],
    init=lambda k: {"a": jax.random.normal(k, (D, D)), "b": jnp.ones(D)},
)


def _forward(params, x):
    f = jnp.tanh(x @ params["encoder"]["w"])
    return f, f @ params["classifier"]["w"]


def _ce(params):
    _, z = _forward(params, jnp.asarray(XS))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, YS))


def _dann(params, disc):
    f, _ = _forward(params, jnp.concatenate([XS, XT]))
    d = jnp.tanh(f @ disc["a"]) @ disc["b"]
    return losses.domain_adversarial(d[:N], d[N:])


def _tree_close(a, b, **kw):
    jax.tree.map(functools.partial(np.testing.assert_allclose, **kw), a, b)


@pytest.mark.parametrize("mode", ["gradient_reversal", "alternating"])
def test_adversarial_gradients(mode):
    """GRL: one update of both players; alternating: adversary first, then the encoder."""
    lr, w = 0.3, 0.7
    trainer = T.make_trainer(
        encoder=ENC,
        classifier=CLS,
        optimizer=optax.sgd(lr),
        example_batch=BATCH,
        terms=[T.DomainAdversarial(network=DISC, weight=w)],
        mode=mode,
    )
    state = trainer.init(KEY)
    new, metrics = jax.jit(trainer.step)(state, BATCH, KEY)
    theta, phi = state.params, state.adversary_params["dann"]

    @jax.jit  # the hand-computed update (jit: one compilation instead of many eager ops)
    def reference(theta, phi):
        g_phi = jax.grad(_dann, argnums=1)(theta, phi)
        phi_new = jax.tree.map(lambda p, g: p - lr * w * g, phi, g_phi)
        phi_seen = phi if mode == "gradient_reversal" else phi_new
        g_ce = jax.grad(_ce)(theta)
        g_adv = jax.grad(_dann)(theta, phi_seen)
        # The encoder ascends the discriminator's loss; the classifier never sees it.
        theta_new = jax.tree.map(lambda p, a, b: p - lr * (a - w * b), theta, g_ce, g_adv)
        return theta_new, phi_new, _ce(theta), _dann(theta, phi_seen), _dann(theta, phi)

    theta_new, phi_new, ce, dann_seen, dann_before = reference(theta, phi)
    _tree_close(new.params, theta_new, rtol=1e-10, atol=1e-12)
    _tree_close(new.adversary_params["dann"], phi_new, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(metrics["dann/value"], dann_seen, rtol=1e-12)
    np.testing.assert_allclose(metrics["dann/weight"], w)
    np.testing.assert_allclose(metrics["loss"], ce + w * dann_seen, rtol=1e-12)
    assert 0.0 <= float(metrics["dann/domain_accuracy"]) <= 1.0
    if mode == "alternating":
        np.testing.assert_allclose(metrics["adversary_loss"], w * dann_before, rtol=1e-12)
    assert int(new.step) == 1


def _head(k):
    return {"w": jax.random.normal(k, (D, C))}


HEAD = T.from_function(lambda p, f: f @ p["w"], init=_head)
CDAN_DISC = T.from_function(
    lambda p, h: h @ p["w"], init=lambda k: {"w": jax.random.normal(k, (C * D,))}
)
MDD_W, LIN = 0.5, kernels.Linear()

ALL_TERMS = [
    T.MMD(kernel=LIN, weight=optax.linear_schedule(0.0, 1.0, 10)),
    T.JMMD(kernels=(LIN, LIN), weight=0.3),
    T.LMMD(kernel=kernels.Gaussian(bandwidth=1.0), weight=0.2),
    T.CORAL(weight=0.4),
    T.Entropy(weight=0.1),
    T.Distance(fn=lambda s, t: jnp.sum((s.mean(0) - t.mean(0)) ** 2), on="probs", name="means"),
    T.DomainAdversarial(network=DISC, weight=ops.dann_schedule(total_steps=10)),
    T.ConditionalAdversarial(network=CDAN_DISC, entropy_conditioning=True, name="cdan_e"),
    T.MarginDisparity(network=HEAD, weight=MDD_W, margin=3.0),
    T.ClassifierDiscrepancy(network=HEAD, weight=0.25),
]


@jax.jit
def _expected_values(params, adv):
    f, z = _forward(params, jnp.concatenate([XS, XT]))
    fs, ft, zs, zt = f[:N], f[N:], z[:N], z[N:]
    ps, pt = jax.nn.softmax(zs), jax.nn.softmax(zt)
    h = losses.cdan_features(f, jax.nn.softmax(z))
    dz = h @ adv["cdan_e"]["w"]
    ws, wt = losses.entropy_weights((ps, pt))
    mdd_head = f @ adv["mdd"]["w"]
    mcd = f @ adv["mcd"]["w"]
    return {
        "mmd": losses.mmd(fs, ft, kernel=LIN),
        "jmmd": losses.jmmd([fs, ps], [ft, pt], kernels=[LIN, LIN]),
        "lmmd": losses.lmmd(fs, ft, YS, pt, num_classes=C, kernel=kernels.Gaussian(bandwidth=1.0)),
        "coral": losses.coral(fs, ft),
        "entropy": jnp.mean(losses.entropy(zt)),
        "means": jnp.sum((ps.mean(0) - pt.mean(0)) ** 2),
        "dann": _dann(params, adv["dann"]),
        "cdan_e": losses.domain_adversarial(dz[:N], dz[N:], source_weights=ws, target_weights=wt),
        "mdd": -losses.mdd(zs, mdd_head[:N], zt, mdd_head[N:], margin=3.0),
        "mcd": jnp.mean(optax.softmax_cross_entropy_with_integer_labels(mcd[:N], YS))
        - losses.classifier_discrepancy(pt, jax.nn.softmax(mcd[N:])),
    }


@pytest.mark.parametrize("mode", ["gradient_reversal", "alternating"])
def test_every_term_value_weight_and_total(mode):
    trainer = T.make_trainer(
        encoder=ENC,
        classifier=CLS,
        optimizer=optax.sgd(0.01),
        example_batch=BATCH,
        terms=ALL_TERMS,
        mode=mode,
    )
    step = jax.jit(trainer.step)
    state = trainer.init(KEY)
    assert set(state.adversary_params) == {"dann", "cdan_e", "mdd", "mcd"}
    for t in range(2):
        new, metrics = step(state, BATCH, KEY)
        if mode == "gradient_reversal":  # values are computed before any update
            expected = _expected_values(state.params, state.adversary_params)
            for name, value in expected.items():
                np.testing.assert_allclose(metrics[f"{name}/value"], value, rtol=1e-9, err_msg=name)
        total = metrics["classification_loss"] + sum(
            metrics[f"{term.name}/weight"] * metrics[f"{term.name}/value"] for term in ALL_TERMS
        )
        np.testing.assert_allclose(metrics["loss"], total, rtol=1e-12)
        np.testing.assert_allclose(metrics["mmd/weight"], t / 10, rtol=1e-6)
        np.testing.assert_allclose(
            metrics["dann/weight"], ops.dann_schedule(total_steps=10)(t), rtol=1e-6
        )
        np.testing.assert_allclose(metrics["cdan_e/weight"], 1.0)
        for key in (
            "dann/domain_accuracy",
            "cdan_e/domain_accuracy",
            "mdd/disparity",
            "mcd/discrepancy",
        ):
            assert np.isfinite(metrics[key]), key
        assert ("adversary_loss" in metrics) == (mode == "alternating")
        state = new
    assert int(state.step) == 2


def test_three_kinds_of_encoder_agree():
    """The same network as NNX module, Linen module and plain function: the same step."""
    x = T.Batch(XS.astype(np.float32), YS, XT.astype(np.float32))
    lin = nnx.Linear(D_IN, D, rngs=nnx.Rngs(0))
    kernel, bias = np.asarray(lin.kernel[...]), np.asarray(lin.bias[...])

    class Dense(nn.Module):
        @nn.compact
        def __call__(self, x):
            return jnp.tanh(nn.Dense(D)(x))

    class Tanh(nnx.Module):
        def __init__(self):
            self.lin = lin

        def __call__(self, x):
            return jnp.tanh(self.lin(x))

    linen_net = T.from_linen(Dense(), x.source_inputs)
    encoders = {
        "nnx": Tanh(),
        "linen": T.Network(
            init=lambda k: {"Dense_0": {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}},
            apply=linen_net.apply,
        ),
        "function": (lambda p, x: jnp.tanh(x @ p["k"] + p["b"]), {"k": kernel, "b": bias}),
    }
    results = {}
    for kind, encoder in encoders.items():
        trainer = T.make_trainer(
            encoder=encoder,
            classifier=nnx.Linear(D, C, rngs=nnx.Rngs(1)),
            optimizer=optax.sgd(0.5),
            example_batch=x,
            terms=[T.MMD(kernel=LIN)],
        )
        state, metrics = jax.jit(trainer.step)(trainer.init(KEY), x, KEY)
        first = jax.tree.leaves(state.params["encoder"])
        results[kind] = (
            metrics["loss"],
            metrics["mmd/value"],
            sorted(np.ravel(a).sum() for a in first),
        )
    for kind in ("linen", "function"):
        for a, b in zip(results["nnx"], results[kind], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=kind)
    assert results["nnx"][1] > 0


# ------------------------------------------------------------------ bad configuration


def _build(**overrides):
    kw = dict(encoder=ENC, classifier=CLS, optimizer=optax.sgd(0.1), example_batch=BATCH, terms=[])
    kw.update(overrides)
    return T.make_trainer(**kw)


def test_term_on_features_of_wrong_rank():
    seq = T.from_function(
        lambda p, x: jnp.tanh(x @ p["w"])[:, None, :].repeat(4, 1), init=_linear((D_IN, D))
    )
    head = T.from_function(lambda p, f: f.mean(1) @ p["w"], init=_linear((D, C)))
    with pytest.raises(ValueError, match=r"'mmd' needs features \[n, d\].*\(6, 4, 3\)"):
        _build(encoder=seq, classifier=head, terms=[T.MMD()])


def test_discriminator_of_wrong_input_size():
    disc = DomainDiscriminator(D + 5, hidden=(4,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"'dann'.*features \(6, 3\).*8 features"):
        _build(terms=[T.DomainAdversarial(network=disc)])
    # CDAN's discriminator must take C·d = 6 inputs, not d = 3.
    cdan = T.ConditionalAdversarial(network=DomainDiscriminator(D, hidden=(4,), rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"'cdan'.*3 features.*\(11, 6\)"):
        _build(terms=[cdan])


def test_head_with_wrong_number_of_classes():
    head = T.from_function(lambda p, f: f @ p["w"], init=_linear((D, C + 1)))
    with pytest.raises(ValueError, match=r"'mdd'.*2 class logits.*\(11, 3\)"):
        _build(terms=[T.MarginDisparity(network=head)])


@pytest.mark.parametrize(
    ("weight", "match"),
    [
        (
            lambda step: jnp.log(step - 1.0),
            r"schedule of alignment term 'mmd' returned nan at step 0",
        ),
        (lambda step: 1.0 / (10 - step), r"returned inf at step 10"),
        (float("nan"), r"weight of alignment term 'mmd' returned nan"),
        (lambda step: jnp.ones(2), r"must be a scalar"),
    ],
)
def test_bad_weight(weight, match):
    with pytest.raises(ValueError, match=match):
        _build(terms=[T.MMD(weight=weight)])


def test_empty_target_batch_fails_at_build_and_trace():
    empty = T.Batch(XS, YS, XT[:0])
    with pytest.raises(
        ValueError, match=r"example_batch.target_inputs` is empty \(shape \(0, 2\)\)"
    ):
        _build(example_batch=empty)
    trainer = _build(terms=[T.MMD()])
    with pytest.raises(ValueError, match=r"batch.target_inputs` is empty"):
        jax.eval_shape(trainer.step, trainer.init(KEY), empty, KEY)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"terms": [T.MMD(), T.MMD()]}, ValueError, r"unique.*'mmd'"),
        ({"terms": [losses.mmd]}, TypeError, "dalib.train terms"),
        ({"mode": "gan"}, ValueError, "mode"),
        ({"example_batch": (XS, YS, XT)}, TypeError, "dalib.train.Batch"),
        ({"example_batch": T.Batch(XS, YS[:3], XT)}, ValueError, "one label per source"),
        ({"example_batch": T.Batch(XS, YS.astype(float), XT)}, TypeError, "integer"),
        ({"example_batch": T.Batch(XS, YS, XT[:, :1])}, ValueError, "per-sample shape"),
        (
            {"classifier": T.from_function(lambda p, f: f.sum(-1), params={})},
            ValueError,
            r"logits \[n, C\]",
        ),
        (
            {"encoder": T.from_function(lambda p, x: x @ p["w"], params={"w": jnp.ones((5, 2))})},
            TypeError,
            r"encoder failed on inputs of shape \(11, 2\)",
        ),
    ],
)
def test_bad_configuration(overrides, error, match):
    with pytest.raises(error, match=match):
        _build(**overrides)


def test_batch_has_no_place_for_target_labels():
    with pytest.raises(TypeError):
        T.Batch(XS, YS, XT, np.zeros(M, np.int32))
    with pytest.raises(TypeError):
        T.Batch(XS, YS, XT, target_labels=np.zeros(M, np.int32))
    assert T.Batch._fields == ("source_inputs", "source_labels", "target_inputs")


def _recording_encoder(seen):
    def apply(p, x):
        seen.append(tuple(np.shape(x)))  # at trace time
        return jnp.tanh(x @ p["w"])

    return T.from_function(apply, init=_linear((D_IN, D)))


@pytest.mark.parametrize(("terms", "rows"), [([], N), ([T.MMD()], N + M)])
def test_target_half_is_forwarded_only_when_a_term_reads_it(terms, rows):
    seen = []
    trainer = _build(encoder=_recording_encoder(seen), terms=terms)
    seen.clear()
    jax.eval_shape(trainer.step, trainer.init(KEY), BATCH, KEY)
    assert seen == [(rows, D_IN)]


def test_source_only_step_equals_the_pooled_forward_dropout_included():
    # Without terms only the source rows are forwarded; the pooled forward of
    # source and target, cut to its source rows, must give the same loss and
    # gradients: dropout draws the same mask for the source rows either way.
    from dalib.nn import MLPEncoder

    xs = RNG.normal(size=(16, 7)).astype(np.float32)
    ys = np.arange(16, dtype=np.int32) % 3
    xt = RNG.normal(size=(12, 7)).astype(np.float32)
    batch = T.Batch(xs, ys, xt)
    encoder = T.from_nnx(lambda r: MLPEncoder(7, (32, 16), dropout=0.5, layer_norm=True, rngs=r))
    classifier = T.from_nnx(lambda r: nnx.Linear(16, 3, rngs=r))
    trainer = T.make_trainer(
        encoder=encoder, classifier=classifier, optimizer=optax.sgd(0.1), example_batch=batch
    )
    state = trainer.init(KEY)
    key = jax.random.key(3)

    def pooled_loss(params):
        rng = jax.random.fold_in(key, state.step)
        k_fwd = jax.random.split(rng)[0]  # as Trainer.step / _objective split it
        k_enc, k_cls = jax.random.split(k_fwd)
        x = jnp.concatenate([xs, xt])
        f = encoder.apply(params["encoder"], x, train=True, rng=k_enc)
        z = classifier.apply(params["classifier"], f, train=True, rng=k_cls)[: len(xs)]
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, ys))

    _, metrics = jax.jit(trainer.step)(state, batch, key)
    expected, grads = jax.value_and_grad(pooled_loss)(state.params)
    np.testing.assert_allclose(metrics["loss"], expected, rtol=1e-5)
    new_state, _ = trainer.step(state, batch, key)
    sgd = jax.tree.map(lambda p, g: p - 0.1 * g, state.params, grads)
    _tree_close(new_state.params, sgd, rtol=1e-5, atol=1e-6)
    # and dropout is on: another step key gives another loss
    _, other = trainer.step(state, batch, jax.random.key(4))
    assert abs(float(other["loss"]) - float(metrics["loss"])) > 1e-4
