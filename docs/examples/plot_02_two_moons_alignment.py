r"""
Aligning a rotated two-moons shift: source-only, DAN and DANN
=============================================================

The classic toy shift: two interleaving half-moons (the source, labelled) and
the same moons rotated by 35 degrees (the target, unlabelled). A small MLP
trained on the source alone draws a boundary that cuts through the rotated
target moons; aligning the feature distributions of the two domains, with the
MMD of DAN (:class:`dalib.train.MMD`) or with a domain discriminator behind a
gradient reversal layer as in DANN (:class:`dalib.train.DomainAdversarial`),
pulls the boundary round.

All three methods are *one* trainer whose two alignment weights are arguments:
``jax.vmap`` trains them together in one compiled program, source-only being
the same trainer with both weights at 0.
"""

# %%
# The data
# --------
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

from dalib import ops
from dalib import train as T
from dalib.nn import DomainDiscriminator, MLPEncoder


def two_moons(n, seed, angle_deg):
    """Two interleaving half circles with Gaussian noise, rotated by ``angle_deg``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1)
    x = np.where(y[:, None] == 0, upper, lower) - [0.5, 0.25] + 0.1 * rng.normal(size=(n, 2))
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (x @ rotation.T).astype(np.float32), y.astype(np.int32)


xs, ys = two_moons(300, seed=0, angle_deg=0.0)
xt, yt = two_moons(300, seed=1, angle_deg=35.0)  # yt only scores the result
data = T.Batch(xs, ys, xt)  # a Batch has no field for target labels

# %%
# One trainer, alignment weights as arguments
# -------------------------------------------
# DAN: MMD with DAN's multi-Gaussian kernel on the 32-d features. DANN: a
# 32-32-1 discriminator whose weight (and so the reversal strength) follows
# the DANN warm-up :func:`dalib.ops.dann_schedule`.
STEPS, BATCH = 500, 32


def make(w_mmd, w_dann):
    ramp = ops.dann_schedule(total_steps=STEPS)
    return T.make_trainer(
        encoder=T.from_nnx(lambda rngs: MLPEncoder(2, (32, 32), layer_norm=False, rngs=rngs)),
        classifier=T.from_nnx(lambda rngs: nnx.Linear(32, 2, rngs=rngs)),
        optimizer=optax.adam(1e-2),
        example_batch=T.sample_batch(data, jax.random.key(0), batch_size=BATCH),
        terms=[
            T.MMD(weight=w_mmd),
            T.DomainAdversarial(
                network=T.from_nnx(lambda rngs: DomainDiscriminator(32, hidden=(32,), rngs=rngs)),
                weight=lambda step: w_dann * ramp(step),
            ),
        ],
    )


def run(w_mmd, w_dann):
    state, history = T.train(make(w_mmd, w_dann), data, jax.random.key(7),
                             num_steps=STEPS, batch_size=BATCH)
    return state, history


methods = {"source only": (0.0, 0.0), "DAN (MMD)": (1.0, 0.0), "DANN": (0.0, 1.0)}
weights = jnp.array(list(methods.values()))
states, history = jax.jit(jax.vmap(run))(weights[:, 0], weights[:, 1])

# %%
# Target accuracy and decision boundaries
# ---------------------------------------
# :func:`dalib.train.evaluate` is the only function of ``dalib.train`` that
# reads target labels, and only to score.
trainer = make(0.0, 0.0)  # forward/evaluate do not depend on the weights
params = [jax.tree.map(lambda a, i=i: a[i], states) for i in range(len(methods))]
results = {name: T.evaluate(trainer, p, xt, yt) for name, p in zip(methods, params, strict=True)}
for name, r in results.items():
    print(f"{name:12s} target accuracy {float(r.metrics['war']):.3f}")

grid = np.stack(np.meshgrid(np.linspace(-2.2, 2.2, 150), np.linspace(-2.2, 2.2, 150)), -1)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), sharey=True)
for ax, (name, state) in zip(axes, zip(methods, params, strict=True), strict=True):
    _, logits = trainer.forward(state.params, jnp.asarray(grid.reshape(-1, 2), jnp.float32))
    p1 = jax.nn.softmax(logits)[:, 1].reshape(grid.shape[:2])
    ax.contourf(grid[..., 0], grid[..., 1], p1, levels=20, cmap="RdBu_r", alpha=0.35)
    ax.contour(grid[..., 0], grid[..., 1], p1, levels=[0.5], colors="k")
    ax.scatter(*xs.T, c=ys, cmap="coolwarm", s=7, marker="o", alpha=0.5)
    ax.scatter(*xt.T, c=yt, cmap="coolwarm", s=14, marker="x", alpha=0.8)
    ax.set_title(f"{name}: target acc {float(results[name].metrics['war']):.2f}")
    ax.set_aspect("equal")
fig.suptitle("source (o) and rotated target (x), black: the decision boundary")
fig.tight_layout()

# %%
# The features before and after alignment
# ---------------------------------------
# PCA of the 32-d encoder features (:attr:`Evaluation.features`) of both
# domains, fitted on each method's own features. After source-only training
# the target moons sit apart from the source ones; DAN and DANN lay them over
# each other. The untrained encoder (left) is the starting point of all three.
def pca2(f):
    f = f - f.mean(0)
    _, _, vt = np.linalg.svd(f, full_matrices=False)
    return f @ vt[:2].T


init = trainer.init(jax.random.split(jax.random.key(7), 3)[0])
panels = {"untrained encoder": init, **dict(zip(methods, params, strict=True))}
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
for ax, (name, state) in zip(axes, panels.items(), strict=True):
    fs = np.asarray(T.evaluate(trainer, state, xs).features)
    ft = np.asarray(T.evaluate(trainer, state, xt).features)
    z = pca2(np.concatenate([fs, ft]))
    ax.scatter(*z[: len(fs)].T, c=ys, cmap="coolwarm", s=6, marker="o", alpha=0.5)
    ax.scatter(*z[len(fs) :].T, c=yt, cmap="coolwarm", s=12, marker="x", alpha=0.7)
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("PCA of the features: source (o), target (x), colour = class")
fig.tight_layout()

# %%
# The alignment values over training
# ----------------------------------
# ``history`` holds every metric of every step, stacked ``[method, step]``;
# the MMD of the features is logged for every method (weight 0 where it is
# not optimised). Curves are moving averages over 25 steps.
def smooth(v, k=25):
    return np.convolve(np.asarray(v), np.ones(k) / k, mode="valid")


fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.2))
for i, name in enumerate(methods):
    ax.plot(smooth(history["mmd/value"][i]), label=name)
    bx.plot(smooth(history["classification_loss"][i]), label=name)
ax.set_ylabel("MK-MMD of the features (batch)")
ax.set_yscale("log")
bx.set_ylabel("source cross-entropy (batch)")
for a in (ax, bx):
    a.set_xlabel("step")
    a.legend()
fig.tight_layout()
