r"""
Gradient reversal in action
===========================

DANN trains a domain discriminator :math:`D` on the encoder's features and,
through a gradient reversal layer :math:`R_\lambda`, trains the encoder to
*fool* it, in one minimisation:

.. math::
   \min_{\theta_f, \theta_y, \theta_d}\;
   \mathcal L_y(\theta_f, \theta_y) + \lambda_p\,
   \mathcal L_d\big(D_{\theta_d}(R_{\lambda_p}(f_{\theta_f}(x)))\big).

This page shows the layer (:func:`dalib.ops.gradient_reversal`), the warm-up of
its strength :math:`\lambda_p` (:func:`dalib.ops.dann_schedule`), and a DANN
training in which the discriminator's accuracy falls to chance while the
classifier keeps learning.
"""

# sphinx_gallery_thumbnail_number = 3

# %%
# Identity forward, reversed gradient backward
# --------------------------------------------
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

from dalib import ops
from dalib import train as T
from dalib.nn import DomainDiscriminator, MLPEncoder

x = jnp.linspace(-2.0, 2.0, 101)
f = lambda x: jnp.sin(2 * x)  # noqa: E731
grad_plain = jax.vmap(jax.grad(f))(x)
grad_rev = jax.vmap(jax.grad(lambda x: f(ops.gradient_reversal(x, 0.5))))(x)
print("forward unchanged:", bool(jnp.all(f(ops.gradient_reversal(x, 0.5)) == f(x))))

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(x, f(x), "k", label=r"$f(x) = f(R_\lambda(x))$")
ax.plot(x, grad_plain, label=r"$\partial f / \partial x$")
ax.plot(x, grad_rev, label=r"$\partial f(R_{0.5}(x)) / \partial x = -0.5\,f'(x)$")
ax.set_xlabel("x")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The DANN schedule
# -----------------
# :math:`\lambda_p = \frac{2}{1 + e^{-\gamma p}} - 1` with :math:`p` the training
# progress: the discriminator's (noisy) early signal is kept away from the
# encoder until the classifier has learnt something. :math:`\gamma = 10` is
# DANN's value.
steps = jnp.arange(0, 1001)
fig, ax = plt.subplots(figsize=(6, 3.2))
for gamma in (2.0, 5.0, 10.0, 30.0):
    schedule = ops.dann_schedule(gamma=gamma, total_steps=1000)
    ax.plot(steps, jax.vmap(schedule)(steps), label=rf"$\gamma$ = {gamma:g}")
ax.set_xlabel("step")
ax.set_ylabel(r"$\lambda_p$")
ax.legend()
fig.tight_layout()


# %%
# A DANN training, step by step
# -----------------------------
# Two Gaussian blobs per class; the target is shifted and rotated. Every step
# reports the discriminator's balanced accuracy on its batch
# (``dann/domain_accuracy``, 0.5 = the domains cannot be told apart), its loss
# (``dann/value``, the source plus the target cross-entropy: :math:`2\log 2
# \approx 1.39` at chance) and the schedule's current weight (``dann/weight``).
# The weight scales the discriminator's loss as well as the reversed gradient
# (Algorithm 1 of Ganin et al., 2016), so the discriminator, too, starts slowly;
# from then on the encoder keeps it near chance.
def blobs(n, seed, shift, angle):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 0, [-1.0, 0.0], [1.0, 0.0])
    a = np.deg2rad(angle)
    x = x @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T + shift
    return x.astype(np.float32), y.astype(np.int32)


xs, ys = blobs(400, 0, shift=0.0, angle=0.0)
xt, yt = blobs(400, 1, shift=np.array([0.5, 1.0]), angle=30.0)
data = T.Batch(xs, ys, xt)
STEPS, CHUNK = 1000, 125
key = jax.random.key(1)


def make(w):
    """DANN with the warm-up schedule, scaled by ``w`` (0: source-only training)."""
    ramp = ops.dann_schedule(total_steps=STEPS)
    return T.make_trainer(
        encoder=T.from_nnx(lambda rngs: MLPEncoder(2, (32, 16), layer_norm=False, rngs=rngs)),
        classifier=T.from_nnx(lambda rngs: nnx.Linear(16, 2, rngs=rngs)),
        optimizer=optax.adam(3e-3),
        example_batch=T.sample_batch(data, key, batch_size=64),
        terms=[
            T.DomainAdversarial(
                network=T.from_nnx(lambda rngs: DomainDiscriminator(16, hidden=(32,), rngs=rngs)),
                weight=lambda step: w * ramp(step),
            )
        ],
    )


# %%
# Both runs (DANN and source-only) advance together, ``CHUNK`` steps at a time
# with :func:`dalib.train.run_steps`. After each chunk an *independent* linear
# domain classifier is fitted on held-out encoder features, giving the proxy
# A-distance :func:`dalib.stats.proxy_a_distance` (0: indistinguishable, 2:
# separable). Source-only training leaves the domains apart; DANN closes the
# gap as :math:`\lambda_p` rises.
from dalib.stats import proxy_a_distance  # noqa: E402

ws = jnp.array([1.0, 0.0])
init = jax.jit(jax.vmap(lambda w: make(w).init(jax.random.key(2))))
chunk = jax.jit(jax.vmap(lambda w, s: T.run_steps(make(w), s, data, key, num_steps=CHUNK,
                                                  batch_size=64)))
features = jax.jit(jax.vmap(lambda w, s, x: make(w).forward(s.params, x)[0], (0, 0, None)))

states, histories, a_dist = init(ws), [], []
for _ in range(STEPS // CHUNK):
    states, h = chunk(ws, states)
    histories.append(h)
    fs, ft = features(ws, states, xs), features(ws, states, xt)
    a_dist.append([float(proxy_a_distance(fs[i], ft[i], key=jax.random.key(3))) for i in (0, 1)])
history = {k: np.concatenate([h[k] for h in histories], axis=1) for k in histories[0]}
a_dist = np.array(a_dist)
print("proxy A-distance after each chunk (DANN, source only):")
print(np.round(a_dist, 2))


def smooth(v, k=25):
    return np.convolve(np.asarray(v), np.ones(k) / k, mode="valid")


fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
axes[0].plot(smooth(history["dann/domain_accuracy"][0]), label="discriminator accuracy")
axes[0].plot(smooth(history["dann/value"][0]), label="discriminator loss")
axes[0].plot(history["dann/weight"][0], "k:", label=r"$\lambda_p$")
axes[0].axhline(0.5, color="grey", lw=0.6)
axes[0].axhline(2 * np.log(2.0), color="grey", lw=0.6, ls="--")
axes[0].set_title("DANN's own discriminator")
axes[0].legend(fontsize=8)
checkpoints = CHUNK * np.arange(1, STEPS // CHUNK + 1)
axes[1].plot(checkpoints, a_dist[:, 0], "o-", label="DANN")
axes[1].plot(checkpoints, a_dist[:, 1], "s-", label="source only")
axes[1].set_ylim(0, 2.05)
axes[1].set_title("proxy A-distance of the features")
axes[1].legend(fontsize=8)
axes[2].plot(smooth(history["source_accuracy"][0]), label="DANN")
axes[2].plot(smooth(history["source_accuracy"][1]), label="source only")
axes[2].set_title("source accuracy (batch)")
axes[2].legend(fontsize=8)
for ax in axes:
    ax.set_xlabel("step")
fig.tight_layout()
