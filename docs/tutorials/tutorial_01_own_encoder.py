r"""
Your own encoder with dalib losses in 30 lines
==============================================

dalib's losses are plain functions of arrays, so they drop into any JAX
training step. This tutorial writes a Flax NNX encoder, a linear classifier
and one optax training step that adds the MK-MMD of DAN
(:func:`dalib.losses.mmd`) and Deep CORAL (:func:`dalib.losses.coral`) to the
source cross-entropy, without using :mod:`dalib.train` at all.
"""

# %%
# A shifted toy problem
# ---------------------
# Four Gaussian classes in 8 dimensions; the target domain is the source
# scaled, shifted and rotated. Target labels are kept aside to score.
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dalib import kernels, losses, metrics

rng = np.random.default_rng(0)
means = rng.normal(size=(4, 8)) * 2.0
rotation = np.linalg.qr(rng.normal(size=(8, 8)))[0]


def domain(n, shifted):
    y = rng.integers(0, 4, n)
    x = means[y] + rng.normal(size=(n, 8))
    if shifted:
        x = 1.5 * (x @ (0.6 * np.eye(8) + 0.4 * rotation)) + 1.0
    return jnp.asarray(x, jnp.float32), jnp.asarray(y)


xs, ys = domain(512, shifted=False)
xt, yt = domain(512, shifted=True)  # yt: only to score

# %%
# The 30 lines: model, loss, step, loop
# -------------------------------------
class Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.encoder = nnx.Sequential(nnx.Linear(8, 64, rngs=rngs), nnx.relu,
                                      nnx.Linear(64, 32, rngs=rngs), nnx.relu)
        self.head = nnx.Linear(32, 4, rngs=rngs)

    def __call__(self, x):
        features = self.encoder(x)
        return features, self.head(features)


def loss_fn(model, xs, ys, xt, w_mmd, w_coral):
    fs, logits = model(xs)
    ft, _ = model(xt)  # target labels never enter
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean()
    mmd = losses.mmd(fs, ft, kernel=kernels.MultiGaussian.dan())
    coral = losses.coral(fs, ft)
    return ce + w_mmd * mmd + w_coral * coral, (ce, mmd, coral)


@nnx.jit
def train_step(model, optimizer, xs, ys, xt, w_mmd, w_coral):
    grad_fn = nnx.value_and_grad(loss_fn, has_aux=True)
    (loss, parts), grads = grad_fn(model, xs, ys, xt, w_mmd, w_coral)
    optimizer.update(model, grads)
    return loss, parts


def fit(w_mmd, w_coral, steps=300, batch=64, seed=0):
    model = Net(nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    key = jax.random.key(seed)
    for step in range(steps):
        ks, kt = jax.random.split(jax.random.fold_in(key, step))
        i = jax.random.randint(ks, (batch,), 0, len(xs))
        j = jax.random.randint(kt, (batch,), 0, len(xt))
        _, parts = train_step(model, optimizer, xs[i], ys[i], xt[j], w_mmd, w_coral)
    return model, parts


# %%
# Source-only against aligned training
# ------------------------------------
# The weights are traced arguments, so the three runs share one compiled step.
for name, (w_mmd, w_coral) in {
    "source only": (0.0, 0.0),
    "+ MK-MMD (DAN)": (1.0, 0.0),
    "+ Deep CORAL": (0.0, 1.0),
}.items():
    model, (ce, mmd, coral) = fit(w_mmd, w_coral)
    pred = jnp.argmax(model(xt)[1], axis=-1)
    print(f"{name:16s} target UAR {float(metrics.uar(yt, pred, num_classes=4)):.3f}  "
          f"(last batch: CE {float(ce):.3f}, MMD {float(mmd):.3f}, CORAL {float(coral):.4f})")

# %%
# Where to go from here
# ---------------------
# * Every loss of :mod:`dalib.losses` has the same form: ``loss(source, target,
#   *, options)``; adversarial ones take discriminator logits, with
#   :func:`dalib.ops.gradient_reversal` in front of the discriminator.
# * :mod:`dalib.train` packages exactly this step (and its adversarial,
#   scheduled and multi-seed variants) for any NNX, Linen or plain-function
#   encoder: see :doc:`/training`.
