r"""
Label-free model selection over checkpoints
===========================================

An unsupervised domain adaptation run has no target labels to choose its
alignment weight or its stopping step with. :mod:`dalib.selection` scores a
candidate model from what *is* available:

* **IWV** and **DEV**: the source validation loss re-weighted by the density
  ratio :math:`p_t(x)/p_s(x)`, estimated by a domain classifier on the
  candidate's features (lower is better);
* **SND**: the soft neighbourhood density of the target predictions (higher is
  better).

Here 32 candidates (four alignment settings, eight checkpoints each) on a
rotated two-moons shift are scored by each criterion and plotted against the
target accuracy, which is computed only to judge the criteria.
"""

# %%
# Candidates: four settings, checkpoints every 50 steps
# -----------------------------------------------------
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

from dalib import metrics, selection
from dalib import train as T
from dalib.nn import DomainDiscriminator, MLPEncoder


def two_moons(n, seed, angle_deg):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1)
    x = np.where(y[:, None] == 0, upper, lower) - [0.5, 0.25] + 0.1 * rng.normal(size=(n, 2))
    a = np.deg2rad(angle_deg)
    return (x @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T).astype(
        np.float32
    ), y.astype(np.int32)


xs_all, ys_all = two_moons(500, seed=0, angle_deg=0.0)
xs, ys = xs_all[:350], ys_all[:350]  # source training split
xv, yv = xs_all[350:], ys_all[350:]  # source validation split (labelled)
xt, yt = two_moons(400, seed=1, angle_deg=40.0)  # yt: only to judge the criteria
data = T.Batch(xs, ys, xt)
key = jax.random.key(0)

settings = {  # (MMD weight, DANN weight)
    "source only": (0.0, 0.0),
    "MMD 0.3": (0.3, 0.0),
    "MMD 1.0": (1.0, 0.0),
    "DANN 1.0": (0.0, 1.0),
}


def make(w_mmd, w_dann):
    return T.make_trainer(
        encoder=T.from_nnx(lambda rngs: MLPEncoder(2, (32, 32), layer_norm=False, rngs=rngs)),
        classifier=T.from_nnx(lambda rngs: nnx.Linear(32, 2, rngs=rngs)),
        optimizer=optax.adam(1e-2),
        example_batch=T.sample_batch(data, key, batch_size=32),
        terms=[
            T.MMD(weight=w_mmd),
            T.DomainAdversarial(
                network=T.from_nnx(lambda rngs: DomainDiscriminator(32, hidden=(32,), rngs=rngs)),
                weight=w_dann,
            ),
        ],
    )


w = jnp.array(list(settings.values()))
init = jax.jit(jax.vmap(lambda a, b: make(a, b).init(jax.random.key(1))))
chunk = jax.jit(jax.vmap(lambda a, b, s: T.run_steps(make(a, b), s, data, key, num_steps=50,
                                                     batch_size=32)[0]))
forward = jax.jit(jax.vmap(lambda a, b, s, x: make(a, b).forward(s.params, x), (0, 0, 0, None)))

rows = []  # one per candidate
states = init(w[:, 0], w[:, 1])
for step in range(50, 401, 50):
    states = chunk(w[:, 0], w[:, 1], states)
    (fs, _), (fv, lv), (ft, lt) = (forward(w[:, 0], w[:, 1], states, x) for x in (xs, xv, xt))
    for i, name in enumerate(settings):
        rows.append({
            "setting": name, "step": step,
            "source_features": np.asarray(fs[i]), "val_features": np.asarray(fv[i]),
            "target_features": np.asarray(ft[i]),
            "val_probs": jax.nn.softmax(lv[i]), "target_probs": jax.nn.softmax(lt[i]),
        })

# %%
# Scores
# ------
# The density ratio is estimated on each candidate's own features: a domain
# classifier is fitted on source-training and target features and evaluated
# at the source validation points (DEV's recipe). Per-sample losses are the
# cross-entropies of the validation labels. The classifier's inverse
# regularisation is chosen by cross-validated log-loss of the *domain* labels.
for r in rows:
    weights = selection.importance_weights(
        r["source_features"], r["target_features"], evaluate_at=r["val_features"],
        regularization=(0.1, 1.0),  # fewer values of C than the default: faster
    )
    losses = selection.cross_entropy_losses(r["val_probs"], yv)
    r["iwv"] = float(selection.iwv(losses, weights))
    r["dev"] = float(selection.dev(losses, weights))
    r["snd"] = float(selection.snd(r["target_probs"]))
    r["source val acc"] = float(metrics.war(yv, jnp.argmax(r["val_probs"], -1)))
    # held back: read only to judge the criteria
    r["target acc"] = float(selection.oracle_target_accuracy(yt, r["target_probs"]))


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


acc = np.array([r["target acc"] for r in rows])
fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), sharey=True)
colours = dict(zip(settings, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
criteria = ["iwv", "dev", "snd", "source val acc"]
for ax, crit in zip(axes, criteria, strict=True):
    score = np.array([r[crit] for r in rows])
    for name in settings:
        idx = [i for i, r in enumerate(rows) if r["setting"] == name]
        ax.scatter(score[idx], acc[idx], color=colours[name], label=name, s=22)
    if crit == "source val acc":
        best = int(np.argmax(score))
    else:
        best = selection.select(list(score), crit)
    ax.scatter(score[best], acc[best], s=160, facecolors="none", edgecolors="k", lw=1.5)
    higher = crit in ("snd", "source val acc")
    agreement = spearman(score if higher else -score, acc)
    ax.set_title(f"{crit.upper() if len(crit) == 3 else crit} ({'higher' if higher else 'lower'}"
                 f" is better)\nrank agreement with target acc {agreement:+.2f}", fontsize=9)
    ax.set_xlabel("score")
axes[0].set_ylabel("target accuracy (held back)")
axes[0].legend(fontsize=7)
fig.tight_layout()

# %%
# "Rank agreement" is Spearman's correlation between the criterion, oriented so
# that larger means better, and the target accuracy: +1 would rank the
# candidates exactly as the target labels do. What each criterion would have
# picked (circled above):
def picked(i):
    return f"{rows[i]['setting']} @ {rows[i]['step']}"


print(f"{'criterion':16s} {'picks':22s} target acc")
for crit in ("iwv", "dev", "snd"):
    i = selection.select([r[crit] for r in rows], crit)
    print(f"{crit:16s} {picked(i):22s} {acc[i]:.3f}")
i = int(np.argmax([r["source val acc"] for r in rows]))
print(f"{'source val acc':16s} {picked(i):22s} {acc[i]:.3f}")
print(f"{'(oracle)':16s} {rows[int(acc.argmax())]['setting']:22s} {acc.max():.3f}")

# %%
# What to read from it
# --------------------
# On this 40 degree rotation the source validation accuracy (between 0.9 and 1
# for every candidate) ranks the candidates no better than chance. The importance-weighted
# risks (IWV, DEV) prefer source-only checkpoints here: their source loss is
# the lowest, and with source and target supports that barely overlap the
# estimated density ratio cannot re-weight the source enough to see the
# target errors. SND, computed on the target predictions alone, picks an
# aligned model. No criterion is reliable on every shift (SND, for one, also
# rewards a model that collapses the target onto one class): use them to
# narrow the candidates, and report which criterion chose the model.
