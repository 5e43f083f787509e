"""Whole trainings: toy shift, vmap over seeds, target-label blindness, resume, evaluation."""

import os
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dalib import metrics
from dalib import train as T
from dalib.nn import DomainDiscriminator, MLPEncoder


def two_moons(n: int, seed: int, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (centred), rotated by ``angle_deg``: a toy domain shift."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(
        y[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], 1),
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1),
    )
    x = x - np.array([0.5, 0.25]) + 0.1 * rng.normal(size=(n, 2))
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (x @ rot.T).astype(np.float32), y.astype(np.int32)


XS, YS = two_moons(300, 0, 0.0)
XT, YT = two_moons(300, 1, 35.0)  # YT is used only to score predictions
DATA = T.Batch(XS, YS, XT)
BATCH = 32


def _networks(dropout: float = 0.1):
    encoder = T.from_nnx(
        lambda rngs: MLPEncoder(2, (32, 32), layer_norm=False, dropout=dropout, rngs=rngs)
    )
    classifier = T.from_nnx(lambda rngs: nnx.Linear(32, 2, rngs=rngs))
    disc = T.from_nnx(lambda rngs: DomainDiscriminator(32, hidden=(32,), dropout=0.0, rngs=rngs))
    return encoder, classifier, disc


def _example():
    return T.sample_batch(DATA, jax.random.key(0), batch_size=BATCH)


def _trainer(w_mmd, w_dann):
    encoder, classifier, disc = _networks()
    return T.make_trainer(
        encoder=encoder,
        classifier=classifier,
        optimizer=optax.adam(1e-2),
        example_batch=_example(),
        terms=[T.MMD(weight=w_mmd), T.DomainAdversarial(network=disc, weight=w_dann)],
    )


STEPS, SEEDS = 300, 8
# Source-only, MMD, DANN: one trainer whose two alignment weights are vmapped.
METHODS = {"source_only": (0.0, 0.0), "mmd": (1.0, 0.0), "dann": (0.0, 1.0)}


def _run(data, key, w_mmd, w_dann):
    trainer = _trainer(w_mmd, w_dann)  # built inside: the weights may be traced
    return T.train(trainer, data, key, num_steps=STEPS, batch_size=BATCH)


@pytest.fixture(scope="module")
def toy():
    """3 methods x 8 seeds trained by one compiled program, and the single-run program."""
    keys = jnp.tile(jax.random.split(jax.random.key(42), SEEDS), (len(METHODS),))
    w = np.repeat(np.array(list(METHODS.values())), SEEDS, axis=0)
    states, history = jax.jit(jax.vmap(_run, in_axes=(None, 0, 0, 0)))(DATA, keys, w[:, 0], w[:, 1])
    return keys, w, states, history, jax.jit(_run)


def test_toy_shift_dann_and_mmd_beat_source_only(toy):
    """Fixed seeds: DANN and MMD reach a higher target accuracy than source-only training.

    Source-only is the same trainer with both alignment weights at 0: every
    alignment gradient is multiplied by 0.
    """
    _, _, states, _, _ = toy
    trainer = _trainer(0.0, 0.0)
    forward = jax.jit(jax.vmap(trainer.forward, in_axes=(0, None)))
    _, logits = forward(states.params, jnp.asarray(XT))
    acc = np.array([float(metrics.war(YT, p)) for p in jnp.argmax(logits, -1)])
    acc = acc.reshape(len(METHODS), SEEDS)
    mean = dict(zip(METHODS, acc.mean(1), strict=True))
    std = dict(zip(METHODS, acc.std(1), strict=True))
    print("target accuracy over 8 seeds:", {k: f"{mean[k]:.3f} ± {std[k]:.3f}" for k in mean})
    assert mean["mmd"] > mean["source_only"] + 0.05
    assert mean["dann"] > mean["source_only"] + 0.05
    # Not a lucky average: most seeds improve.
    assert np.sum(acc[1] > acc[0]) >= 6 and np.sum(acc[2] > acc[0]) >= 6


def test_vmap_over_seeds_equals_separate_runs(toy):
    """The 8 DANN seeds of the vmapped program against 8 separate single-seed runs.

    On CPU, XLA rounds a batched matmul or reduction differently from the
    unbatched one (float32 ulps from step 0), and 300 Adam steps amplify that
    round-off; the runs agree to that level and make the same predictions.
    """
    keys, w, states, history, single = toy
    forward = jax.jit(_trainer(0.0, 1.0).forward)
    for i in range(2 * SEEDS, 3 * SEEDS):  # the DANN rows
        state, h = single(DATA, keys[i], w[i, 0], w[i, 1])
        for name, values in h.items():
            np.testing.assert_allclose(values[:10], history[name][i, :10], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(values, history[name][i], rtol=1e-3, atol=1e-4)
        batched = jax.tree.map(lambda a, i=i: a[i], states)
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(batched), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
        _, ours = forward(state.params, jnp.asarray(XT))
        _, theirs = forward(batched.params, jnp.asarray(XT))
        np.testing.assert_array_equal(jnp.argmax(ours, -1), jnp.argmax(theirs, -1))
    assert not np.allclose(history["loss"][2 * SEEDS], history["loss"][2 * SEEDS + 1])


def test_target_labels_cannot_change_training(toy):
    """Permuting the target labels gives bit-identical parameters: training never sees them."""
    *_, single = toy
    key = jax.random.key(3)
    results = []
    for perm_seed in (0, 1):
        y_target = np.random.default_rng(perm_seed).permutation(YT)
        dataset = {"source": (XS, YS), "target": (XT, y_target)}  # a dataset that has them
        data = T.Batch(*dataset["source"], dataset["target"][0])  # the only way into training
        results.append(single(data, key, *np.array([0.5, 1.0])))  # dtypes as in the fixture
    for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1]), strict=True):
        np.testing.assert_array_equal(a, b)


class _Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def trainer():
    return _trainer(0.5, 1.0)


def test_resume_after_interruption_is_bit_identical(tmp_path, trainer):
    key = jax.random.key(11)
    kw = dict(num_steps=12, batch_size=BATCH, save_every=4)
    reference, ref_hist = T.fit(trainer, DATA, key, **kw)

    def crash(state, _):
        if int(state.step) == 8:
            raise _Interrupt  # after the checkpoint of step 8 was written

    with pytest.raises(_Interrupt):
        T.fit(trainer, DATA, key, checkpoint_dir=tmp_path, callback=crash, **kw)
    assert int(T.restore(trainer, tmp_path).step) == 8
    resumed, hist = T.fit(trainer, DATA, key, checkpoint_dir=tmp_path, **kw)
    assert int(resumed.step) == 12
    assert hist["loss"].shape == (4,)  # only steps 9..12 ran
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ref_hist["loss"][8:], hist["loss"])
    # A finished run resumes to itself without training.
    again, none = T.fit(trainer, DATA, key, checkpoint_dir=tmp_path, **kw)
    assert none == {} and int(again.step) == 12


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time, jax
    jax.config.update("jax_enable_x64", {x64})  # as in the test process
    sys.path.insert(0, {tests!r})
    from test_loop import DATA, BATCH, _trainer
    from dalib import train as T
    trainer = _trainer(0.5, 1.0)

    def report(state, _):
        print("step", int(state.step), flush=True)
        if int(state.step) >= 8:
            time.sleep(600)  # wait to be killed

    T.fit(trainer, DATA, jax.random.key(5), num_steps=16, batch_size=BATCH, save_every=4,
          checkpoint_dir={ckpt!r}, callback=report)
    """
)


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path, trainer):
    ckpt = str(tmp_path / "ckpt")
    script = _KILL_SCRIPT.format(
        tests=os.path.dirname(__file__), ckpt=ckpt, x64=bool(jax.config.jax_enable_x64)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    try:
        for line in proc.stdout:
            if line.strip() == "step 8":
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert int(T.restore(trainer, ckpt).step) == 8
    kw = dict(num_steps=16, batch_size=BATCH, save_every=4)
    resumed, _ = T.fit(trainer, DATA, jax.random.key(5), checkpoint_dir=ckpt, **kw)
    reference, _ = T.fit(trainer, DATA, jax.random.key(5), **kw)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_evaluate(toy, trainer):
    _, _, states, _, _ = toy
    state = jax.tree.map(lambda a: a[-1], states)  # a DANN run
    ev = T.evaluate(trainer, state, XT, YT, batch_size=64)
    assert ev.features.shape == (300, 32) and ev.probs.shape == (300, 2)
    np.testing.assert_allclose(ev.probs.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(ev.predictions, ev.probs.argmax(1))
    # Evaluation mode: no dropout, so the batch size does not matter.
    whole = T.predict(trainer, state.params, XT, batch_size=1000)
    np.testing.assert_allclose(whole.logits, ev.logits, rtol=1e-5, atol=1e-6)
    assert whole.metrics == {}
    correct = ev.predictions == YT
    recall = [correct[YT == c].mean() for c in (0, 1)]
    precision = [(YT[ev.predictions == c] == c).mean() for c in (0, 1)]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    np.testing.assert_allclose(ev.metrics["war"], correct.mean(), rtol=1e-6)
    np.testing.assert_allclose(ev.metrics["uar"], np.mean(recall), rtol=1e-6)
    np.testing.assert_allclose(ev.metrics["uf1"], np.mean(f1), rtol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        T.evaluate(trainer, state, XT, YT[:10])
    with pytest.raises(ValueError, match="at least one sample"):
        T.predict(trainer, state, XT[:0])
