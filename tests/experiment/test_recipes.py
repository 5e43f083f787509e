"""Training recipes: the optimiser each recipe builds, the reversal warm-up, MCD's step, config."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dalib import train as T
from dalib.experiment import RunSpec, apply_overrides, build_trainer, fitting, recipes, registry
from dalib.nn import MLPEncoder
from tests.experiment.conftest import tiny_config


@pytest.fixture(autouse=True)
def _own_program_cache(monkeypatch):
    monkeypatch.setattr(fitting, "_PROGRAMS", {})


def _spec(method, *overrides):
    return RunSpec.from_config(apply_overrides(tiny_config(method), list(overrides)))


def test_adversarial_recipe_is_nesterov_sgd_with_coupled_decay_and_inverse_decay():
    r = recipes.ADVERSARIAL
    opt = r.make_optimizer(0.01, 1e-3, 100)
    w = {"w": jnp.array([2.0])}
    g = {"w": jnp.array([0.5])}
    state = opt.init(w)
    # step 0: rate 0.01; PyTorch's nesterov SGD with decay: d = g + wd*w, buf = d,
    # update = -(lr) * (d + m * buf)
    d = 0.5 + 1e-3 * 2.0
    updates, state = opt.update(g, state, w)
    np.testing.assert_allclose(updates["w"], [-0.01 * (d + 0.9 * d)], rtol=1e-6)
    # later steps: the rate follows lr0 (1 + 10 p)^-0.75, p = step / 100 (no momentum here)
    plain = recipes.dataclasses.replace(r, momentum=0.0)
    opt = plain.make_optimizer(0.01, 0.0, 100)
    state = opt.init(w)
    for _ in range(51):
        updates, state = opt.update(g, state, w)
    np.testing.assert_allclose(updates["w"], [-0.01 * 6.0**-0.75 * 0.5], rtol=1e-5)


def test_adamw_recipe_matches_the_old_optimizer():
    w = {"w": jnp.array([1.0, -2.0])}
    g = {"w": jnp.array([0.3, 0.1])}
    ours = recipes.ADAMW.make_optimizer(1e-3, 1e-4, 10)
    ref = optax.adamw(1e-3, weight_decay=1e-4)
    u1, _ = ours.update(g, ours.init(w), w)
    u2, _ = ref.update(g, ref.init(w), w)
    np.testing.assert_allclose(u1["w"], u2["w"])


def test_methods_carry_their_family_recipe():
    assert registry.get("dann").recipe is recipes.ADVERSARIAL
    assert registry.get("cdan").recipe is recipes.ADVERSARIAL
    assert registry.get("mdd").recipe is recipes.MDD
    assert registry.get("mcd").recipe is recipes.MCD
    assert registry.get("source_only").recipe is recipes.ADAMW
    assert registry.get("dan").recipe is recipes.ADAMW


def test_config_values_override_the_recipe_and_none_takes_it():
    spec = _spec("dann")
    assert spec.train.recipe is recipes.ADVERSARIAL
    assert (spec.train.learning_rate, spec.train.weight_decay) == (0.01, 1e-3)
    assert spec.config["train"]["recipe"] == "adversarial"
    spec = _spec("dann", "train.learning_rate=0.05", "train.weight_decay=0")
    assert (spec.train.learning_rate, spec.train.weight_decay) == (0.05, 0.0)
    assert _spec("dann", "train.recipe=adamw").train.recipe is recipes.ADAMW
    assert _spec("source_only").train.learning_rate == 1e-3
    with pytest.raises(ValueError, match=r"train\.recipe"):
        _spec("dann", "train.recipe=fast")
    with pytest.raises(ValueError, match="needs method 'mcd'"):
        _spec("dann", "train.recipe=mcd")


def test_recipe_changes_the_run_identity():
    assert _spec("dann").hash != _spec("dann", "train.recipe=adamw").hash


def test_reversal_scales_only_the_encoders_gradient():
    """With ``reversal`` = s the discriminator's gradient is unchanged and the encoder's is -s x."""
    batch = T.Batch(
        jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)), jnp.float32),
        jnp.array([0, 1, 0, 1, 0, 1], jnp.int32),
        jnp.asarray(np.random.default_rng(1).normal(size=(5, 3)), jnp.float32),
    )

    def grads(reversal):
        term = T.DomainAdversarial(
            weight=1.0,
            reversal=reversal,
            network=T.from_nnx(lambda rngs: nnx.Linear(4, 1, rngs=rngs)),
        )
        trainer = T.make_trainer(
            encoder=T.from_nnx(lambda rngs: MLPEncoder(3, (4,), layer_norm=False, rngs=rngs)),
            classifier=T.from_nnx(lambda rngs: nnx.Linear(4, 2, rngs=rngs)),
            optimizer=optax.sgd(1.0),
            terms=[term],
            example_batch=batch,
        )
        state = trainer.init(jax.random.key(0))
        new, _ = jax.jit(trainer.step)(state, batch, jax.random.key(1))
        enc = jax.tree.map(lambda a, b: a - b, state.params["encoder"], new.params["encoder"])
        adv = jax.tree.map(lambda a, b: a - b, state.adversary_params, new.adversary_params)
        return enc, adv, trainer, state

    enc0, adv0, _, _ = grads(0.0)
    enc1, adv1, _, _ = grads(1.0)
    enc3, adv3, _, _ = grads(0.25)
    for a, b, c in zip(*map(jax.tree.leaves, (adv0, adv1, adv3)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)  # the discriminator always learns fully
        np.testing.assert_allclose(a, c, rtol=1e-5)
    # encoder update = CE part + s * (reversed adversarial part): linear in s
    for e0, e1, e3 in zip(*map(jax.tree.leaves, (enc0, enc1, enc3)), strict=True):
        np.testing.assert_allclose(e3, e0 + 0.25 * (e1 - e0), rtol=1e-4, atol=1e-6)
    pairs = zip(jax.tree.leaves(enc0), jax.tree.leaves(enc1), strict=True)
    assert any(float(jnp.abs(a - b).max()) > 1e-6 for a, b in pairs)


def test_mcd_recipe_runs_the_three_step_update():
    spec = _spec("mcd")
    trainer = build_trainer(spec, in_features=4, num_classes=3)
    assert trainer.num_k == recipes.MCD.num_k
    batch = T.Batch(
        jnp.asarray(np.random.default_rng(0).normal(size=(8, 4)), jnp.float32),
        jnp.array([0, 1, 2, 0, 1, 2, 0, 1], jnp.int32),
        jnp.asarray(np.random.default_rng(1).normal(size=(8, 4)), jnp.float32) + 2.0,
    )
    state = trainer.init(jax.random.key(0))
    assert set(state.opt_state) == {"encoder", "heads"}
    new, metrics = jax.jit(trainer.step)(state, batch, jax.random.key(1))
    assert int(new.step) == 1
    for key in ("classification_loss", "source_accuracy", "mcd/discrepancy", "mcd/value"):
        assert np.isfinite(float(metrics[key]))
    moved = [
        float(jnp.abs(a - b).max())
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(new.params), strict=True)
    ]
    assert max(moved) > 0
    assert int(new.opt_state["encoder"][-1][0].count) == 1 + recipes.MCD.num_k  # steps A + C
    assert int(new.opt_state["heads"][-1][0].count) == 2  # steps A + B


def test_mcd_trainer_rejects_other_terms():
    trainer = build_trainer(_spec("dann", "train.recipe=adamw"), in_features=4, num_classes=3)
    with pytest.raises(ValueError, match="ClassifierDiscrepancy"):
        recipes.mcd_trainer(trainer, recipes.MCD, 1e-3, 0.0, 10)


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="optimizer"):
        recipes.Recipe("x", "", "", optimizer="rmsprop")
    with pytest.raises(ValueError, match="learning_rate"):
        recipes.Recipe("x", "", "", learning_rate=0.0)
    assert "nesterov" in recipes.ADVERSARIAL.describe()


def test_dalib_methods_prints_each_recipe(capsys):
    from dalib.cli import main

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "recipe: adversarial: SGD momentum 0.9 nesterov" in out
    assert "TLlib examples mdd.py" in out


def test_house_recipe_runs_keep_their_identity_and_the_others_record_theirs():
    """Runs of house-recipe methods hash as before recipes existed (they resume as complete)."""
    spec = _spec("dan")
    assert "recipe" not in spec.config["train"]
    assert spec.config["train"]["learning_rate"] == 1e-3
    old = tiny_config("dan")
    old.train.learning_rate, old.train.weight_decay = 1e-3, 1e-4
    del old.train["recipe"]
    assert RunSpec.from_config(old).hash == spec.hash
    assert _spec("dann", "train.recipe=adamw").config["train"]["recipe"] == "adamw"
    assert _spec("dann").config["train"]["recipe"] == "adversarial"


def _linear_layers(params) -> list[tuple[int, int]]:
    """``(in, out)`` of every 2-D weight in a parameter tree, by a plain walk."""
    return [tuple(leaf.shape) for leaf in jax.tree.leaves(params) if np.ndim(leaf) == 2]


def test_mcd_classifiers_are_the_references_mlp_heads():
    # Saito et al. (three FC layers) and TLlib's ImageClassifierHead: both classifiers are
    # MLPs d -> h -> h -> C with dropout. Two linear classifiers (the pre-2026-11-30 build)
    # cannot disagree beyond the source support, and the encoder parks the target there.
    spec = _spec("mcd", "model.hidden=(8,)", "options.head_hidden=(6,5)")
    trainer = build_trainer(spec, in_features=4, num_classes=3)
    state = trainer.init(jax.random.key(0))
    c1, c2 = state.params["classifier"], state.adversary_params["mcd"]
    for head in (c1, c2):
        assert sorted(_linear_layers(head)) == sorted([(8, 6), (6, 5), (5, 3)])
    x = jnp.asarray(np.random.default_rng(0).normal(size=(16, 8)), jnp.float32)
    net = trainer.terms[0].network
    train = [net.apply(c2, x, train=True, rng=jax.random.key(k)) for k in range(2)]
    assert float(jnp.abs(train[0] - train[1]).max()) > 1e-4  # dropout is on in training
    assert jnp.allclose(net.apply(c2, x), net.apply(c2, x))  # and off in evaluation
    default = build_trainer(_spec("mcd", "model.hidden=(8,)"), in_features=4, num_classes=3)
    state = default.init(jax.random.key(0))
    for head in (state.params["classifier"], state.adversary_params["mcd"]):
        assert len(_linear_layers(head)) == 3  # three FC layers by default
    linear = _spec("mcd", "model.hidden=(8,)", "options.head_hidden=()")
    state = build_trainer(linear, in_features=4, num_classes=3).init(jax.random.key(0))
    assert _linear_layers(state.adversary_params["mcd"]) == [(8, 3)]  # the old build on request


def _far_shift(seed: int, dim: int = 20, classes: int = 4, n: int = 200):
    """Four balanced Gaussian classes; the target moved far along one random direction."""
    rng = np.random.default_rng(seed)
    means = 1.2 * rng.normal(size=(classes, dim))
    ys, yt = np.arange(n) % classes, rng.permutation(np.arange(n) % classes)
    direction = rng.normal(size=dim)
    direction *= 6.0 * np.sqrt(dim) / np.linalg.norm(direction)
    xs = means[ys] + rng.normal(size=(n, dim))
    xt = means[yt] + rng.normal(size=(n, dim)) + direction
    pooled = np.concatenate([xs, xt])
    mu, sd = pooled.mean(0), pooled.std(0)
    return ((xs - mu) / sd).astype(np.float32), ys.astype(np.int32), ((xt - mu) / sd)


@pytest.mark.slow
def test_mcd_does_not_park_the_target_on_one_class():
    # Label-free: the share of target rows given to the most predicted class (the source is
    # balanced, 0.25 each), averaged over two draws of the toy. With two linear classifiers
    # MCD puts 0.9-0.95 of the target in one class; with the reference's MLP heads 0.3-0.55.
    from dalib.experiment import AdaptData, fit_method

    shares: dict[str, list[float]] = {"()": [], "default": []}
    for draw in (1, 2):
        xs, ys, xt = _far_shift(draw)
        data = AdaptData("far", tuple("abcd"), xs, ys, xt.astype(np.float32))
        for head in shares:
            heads = [f"options.head_hidden={head}"] if head != "default" else []
            c = apply_overrides(
                tiny_config("mcd"), [*heads, "model.hidden=(32,)", "train.steps=200"]
            )
            c.train.batch_size = 32
            predictions = fit_method(RunSpec.from_config(c), data, 0).predictions
            shares[head].append(np.bincount(predictions, minlength=4).max() / len(predictions))
    assert np.mean(shares["()"]) > 0.8  # the toy shows the failure this test guards against
    assert np.mean(shares["default"]) < 0.6


@pytest.mark.parametrize("name", ["cdan", "cdan_e"])
def test_cdan_loss_is_tllibs_mean_over_the_concatenated_batch(name):
    """CDAN's value is the BCE averaged over source + target rows (TLlib), not their sum."""
    method = registry.get(name)
    ctx = registry.DeepContext(dict(method.defaults), 5, 3, weight=lambda v: v)
    (term,) = method.build(ctx).terms
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    ls, lt = rng.normal(size=(8, 3)), 2.0 * rng.normal(size=(8, 3))
    out = T.Outputs(
        *(jnp.asarray(a, jnp.float32) for a in (fs, ft, ls, lt)),
        jnp.zeros(8, jnp.int32),
        jnp.asarray(0),
    )
    params = term.network.init(jax.random.key(0))
    value, _ = term(out, params, jax.random.key(1))
    # independent reference: outer products by loop, softmax, BCE, TLlib's joint weights
    f = np.concatenate([fs, ft])
    logits = np.concatenate([ls, lt])
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    h = np.stack([np.concatenate([p[i, c] * f[i] for c in range(3)]) for i in range(16)])
    z = np.asarray(term.network.apply(params, jnp.asarray(h, jnp.float32), train=False))
    z = z.reshape(-1).astype(np.float64)
    d = np.r_[np.ones(8), np.zeros(8)]
    sig = 1.0 / (1.0 + np.exp(-z))
    bce = -(d * np.log(sig) + (1 - d) * np.log(1 - sig))
    w = np.ones(16)
    if name == "cdan_e":
        w = 1.0 + np.exp(np.sum(p * np.log(p), axis=1))
        w = w / w.sum() * 16
    np.testing.assert_allclose(float(value), np.mean(w * bce), rtol=1e-4)


def test_mdd_recipe_decays_as_tllibs_mdd():
    """TLlib's mdd.py: rate 0.004 (1 + 2e-4 i)^-0.75 over 20 x 1000 iterations, in progress."""
    from dalib import ops

    recipe = registry.get("mdd").recipe
    steps = 1000
    sched = ops.inverse_decay_schedule(
        init_value=recipe.learning_rate,
        total_steps=steps,
        alpha=recipe.decay_alpha,
        beta=recipe.decay_beta,
    )
    for step in (0, 100, 250, 500, 1000):
        iteration = 20 * 1000 * step / steps  # the same progress in TLlib's 20 epochs
        tllib = 0.004 * (1.0 + 0.0002 * iteration) ** -0.75
        np.testing.assert_allclose(float(sched(step)), tllib, rtol=1e-6)
    assert "(1+4p)" in recipe.describe()
