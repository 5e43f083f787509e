"""Whole trainings: toy shift, vmap over seeds, target-label blindness, resume, evaluation."""

import functools
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


def _networks(dropout: float = 0.0):
    encoder = T.from_nnx(
        lambda rngs: MLPEncoder(2, (32, 32), layer_norm=False, dropout=dropout, rngs=rngs)
    )
    classifier = T.from_nnx(lambda rngs: nnx.Linear(32, 2, rngs=rngs))
    disc = T.from_nnx(lambda rngs: DomainDiscriminator(32, hidden=(32,), dropout=0.0, rngs=rngs))
    return encoder, classifier, disc


def _example():
    return T.sample_batch(DATA, jax.random.key(0), batch_size=BATCH)


def test_toy_shift_dann_and_mmd_beat_source_only():
    """Fixed seeds: DANN and MMD reach a higher target accuracy than source-only training.

    One compiled program trains all 3 methods x 3 seeds: source-only is the same
    trainer with both alignment weights at 0 (the weights are vmapped).
    """
    encoder, classifier, disc = _networks()
    steps = 300

    def run(key, w_mmd, w_dann):
        trainer = T.make_trainer(
            encoder=encoder,
            classifier=classifier,
            optimizer=optax.adam(1e-2),
            example_batch=_example(),
            terms=[T.MMD(weight=w_mmd), T.DomainAdversarial(network=disc, weight=w_dann)],
        )
        state, _ = T.train(trainer, DATA, key, num_steps=steps, batch_size=BATCH)
        _, logits = trainer.forward(state.params, jnp.asarray(XT))
        return jnp.argmax(logits, -1)

    seeds = 3
    weights = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # source-only, MMD, DANN
    keys = jnp.tile(jax.random.split(jax.random.key(42), seeds), (3,))
    w = np.repeat(weights, seeds, axis=0)
    preds = jax.jit(jax.vmap(run))(keys, w[:, 0], w[:, 1])
    acc = np.asarray([float(metrics.war(YT, p)) for p in preds]).reshape(3, seeds).mean(1)
    source_only, mmd, dann = acc
    print(f"target accuracy: source-only {source_only:.3f}, MMD {mmd:.3f}, DANN {dann:.3f}")
    assert mmd > source_only + 0.03
    assert dann > source_only + 0.03


@pytest.fixture(scope="module")
def dropout_dann():
    """A DANN + MMD trainer with dropout, and its single-run program (compiled once)."""
    encoder, classifier, disc = _networks(dropout=0.2)
    trainer = T.make_trainer(
        encoder=encoder,
        classifier=classifier,
        optimizer=optax.adam(1e-2),
        example_batch=_example(),
        terms=[T.MMD(weight=0.5), T.DomainAdversarial(network=disc, weight=1.0)],
    )
    run = functools.partial(T.train, trainer, num_steps=10, batch_size=BATCH)
    return trainer, run, jax.jit(run)


def test_vmap_over_seeds_equals_separate_runs(dropout_dann):
    _, run, single = dropout_dann
    keys = jax.random.split(jax.random.key(7), 8)
    states, hist = jax.jit(jax.vmap(run, in_axes=(None, 0)))(DATA, keys)
    exact = 0
    for i in range(8):
        state, h = single(DATA, keys[i])
        ours = jax.tree.leaves((state, h))
        batched = [a[i] for a in jax.tree.leaves((states, hist))]
        for a, b in zip(ours, batched, strict=True):
            # XLA may order a batched reduction differently: allow float32 round-off.
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
        exact += all(np.array_equal(a, b) for a, b in zip(ours, batched, strict=True))
    # The seeds really differ.
    assert not np.allclose(hist["loss"][0], hist["loss"][1])
    print(f"{exact}/8 seeds bit-identical to their separate run")


def test_target_labels_cannot_change_training(dropout_dann):
    """Permuting the target labels gives bit-identical parameters: training never sees them."""
    _, _, single = dropout_dann
    key = jax.random.key(3)
    results = []
    for perm_seed in (0, 1):
        y_target = np.random.default_rng(perm_seed).permutation(YT)
        data = {"source": (XS, YS), "target": (XT, y_target)}  # a dataset that has them
        batch = T.Batch(*data["source"], data["target"][0])  # the only way into training
        results.append(single(batch, key))
    for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1]), strict=True):
        np.testing.assert_array_equal(a, b)


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_is_bit_identical(tmp_path, dropout_dann):
    trainer, _, _ = dropout_dann
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
    import sys, time, jax, optax
    sys.path.insert(0, {tests!r})
    from test_loop import DATA, BATCH, _example, _networks
    from dalib import train as T
    encoder, classifier, disc = _networks(dropout=0.2)
    trainer = T.make_trainer(encoder=encoder, classifier=classifier,
        optimizer=optax.adam(1e-2), example_batch=_example(),
        terms=[T.MMD(weight=0.5), T.DomainAdversarial(network=disc, weight=1.0)])

    def report(state, _):
        print("step", int(state.step), flush=True)
        if int(state.step) >= 8:
            time.sleep(600)  # wait to be killed

    T.fit(trainer, DATA, jax.random.key(5), num_steps=16, batch_size=BATCH, save_every=4,
          checkpoint_dir={ckpt!r}, callback=report)
    """
)


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path, dropout_dann):
    trainer, _, _ = dropout_dann
    ckpt = str(tmp_path / "ckpt")
    script = _KILL_SCRIPT.format(tests=os.path.dirname(__file__), ckpt=ckpt)
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


def test_evaluate(dropout_dann):
    trainer, _, single = dropout_dann
    state, _ = single(DATA, jax.random.key(0))
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
