"""Tests for dalib.losses.lmmd (DSAN's local MMD) against NumPy references."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.kernels import Gaussian, MultiGaussian
from dalib.losses import lmmd, mmd


def rel_err(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-12)


def k_gauss(x, y, sigma):
    return math.exp(-float(np.sum((x - y) ** 2)) / (2.0 * sigma**2))


def make(n=8, m=6, c=4, seed=0, target_classes=None):
    rng = np.random.default_rng(seed)
    xs, xt = rng.normal(size=(n, 3)), rng.normal(size=(m, 3)) + 0.3
    ys = rng.integers(0, c, size=n)
    logits = rng.normal(size=(m, c))
    if target_classes is not None:  # force argmax into a subset of classes
        logits[:, [k for k in range(c) if k not in target_classes]] -= 10.0
    pt = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return xs, xt, ys, pt


def ref_lmmd(xs, xt, ys, pt, c, k):
    """The FIELD.md formula, class by class with explicit loops (n != m allowed)."""
    n, m = len(xs), len(xt)
    pred = pt.argmax(1)
    kept = [cl for cl in range(c) if np.any(ys == cl) and np.any(pred == cl)]
    if not kept:
        return 0.0
    total = 0.0
    for cl in kept:
        ws = np.array([1.0 if ys[i] == cl else 0.0 for i in range(n)])
        ws /= ws.sum()
        wt = pt[:, cl] / pt[:, cl].sum()
        for i in range(n):
            for j in range(n):
                total += ws[i] * ws[j] * k(xs[i], xs[j])
        for i in range(m):
            for j in range(m):
                total += wt[i] * wt[j] * k(xt[i], xt[j])
        for i in range(n):
            for j in range(m):
                total -= 2.0 * ws[i] * wt[j] * k(xs[i], xt[j])
    return total / len(kept)


@pytest.mark.parametrize("target_classes", [None, (1, 2)])
def test_matches_numpy_loops(target_classes):
    xs, xt, ys, pt = make(n=9, m=6, seed=1, target_classes=target_classes)
    got = lmmd(xs, xt, ys, pt, num_classes=4, kernel=Gaussian(bandwidth=1.3))
    want = ref_lmmd(xs, xt, ys, pt, 4, lambda a, b: k_gauss(a, b, 1.3))
    assert got.shape == ()
    assert rel_err(got, want) <= 1e-5


def deepda_lmmd(xs, xt, ys, pt, c):
    """DeepDA's LMMDLoss (guassian_kernel + cal_weight), re-derived in NumPy; n == m."""
    b = len(xs)
    z = np.concatenate([xs, xt])
    n_all = len(z)
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    bw = d2.sum() / (n_all**2 - n_all) / 2.0 ** (5 // 2)
    kernels = sum(np.exp(-d2 / (bw * 2.0**i)) for i in range(5))
    onehot = np.eye(c)[ys]
    s_sum = onehot.sum(0, keepdims=True)
    s_sum[s_sum == 0] = 100
    onehot = onehot / s_sum
    t_sum = pt.sum(0, keepdims=True)
    t_sum[t_sum == 0] = 100
    tn = pt / t_sum
    w_ss, w_tt, w_st = np.zeros((b, b)), np.zeros((b, b)), np.zeros((b, b))
    count = 0
    set_s, set_t = set(ys.tolist()), set(pt.argmax(1).tolist())
    for i in range(c):
        if i in set_s and i in set_t:
            s_vec, t_vec = onehot[:, i : i + 1], tn[:, i : i + 1]
            w_ss += s_vec @ s_vec.T
            w_tt += t_vec @ t_vec.T
            w_st += s_vec @ t_vec.T
            count += 1
    if count == 0:
        return 0.0
    w_ss, w_tt, w_st = w_ss / count, w_tt / count, w_st / count
    ss, tt, st = kernels[:b, :b], kernels[b:, b:], kernels[:b, b:]
    return float(np.sum(w_ss * ss + w_tt * tt - 2 * w_st * st))


@pytest.mark.parametrize("seed,target_classes", [(2, None), (3, (0, 3))])
def test_dsan_setting_reproduces_deepda(seed, target_classes):
    xs, xt, ys, pt = make(n=8, m=8, seed=seed, target_classes=target_classes)
    got = lmmd(xs, xt, ys, pt, num_classes=4, kernel=MultiGaussian.dsan())
    assert rel_err(got, deepda_lmmd(xs, xt, ys, pt, 4)) <= 1e-10


def test_one_class_is_biased_mmd():
    xs, xt, _, _ = make(seed=4)
    kernel = MultiGaussian.dsan()
    got = lmmd(xs, xt, np.zeros(8, dtype=int), np.ones((6, 1)), num_classes=1, kernel=kernel)
    assert rel_err(got, mmd(xs, xt, kernel=kernel)) <= 1e-12


def test_zero_when_no_class_is_shared_and_grads_finite():
    xs, xt, _, pt = make(seed=5, target_classes=(2, 3))
    ys = np.array([0, 1] * 4)  # the target predicts only classes 2, 3
    # class 1 gets zero target mass: the column guard must keep things finite
    pt = pt.copy()
    pt[:, 1] = 0.0
    kernel = MultiGaussian.dsan()
    value, grads = jax.value_and_grad(
        lambda a, b: lmmd(a, b, ys, pt, num_classes=4, kernel=kernel), argnums=(0, 1)
    )(xs, xt)
    assert float(value) == 0.0
    assert all(np.all(np.isfinite(g)) and np.all(g == 0) for g in grads)


def test_gradients_and_stop_gradient_on_probs():
    xs, xt, ys, pt = make(seed=6)
    kernel = Gaussian(bandwidth=1.0)

    def f(a, b):
        return lmmd(a, b, ys, pt, num_classes=4, kernel=kernel)

    check_grads(jax.jit(f), (xs, xt), order=1, modes=("rev",))
    g_probs = jax.grad(lambda p: lmmd(xs, xt, ys, p, num_classes=4, kernel=kernel))(pt)
    assert np.all(g_probs == 0)
    # identical features on both sides (zero distances), data-driven bandwidth
    grads = jax.grad(
        lambda a, b: lmmd(
            a, b, ys, pt[:1].repeat(8, 0), num_classes=4, kernel=MultiGaussian.dsan()
        ),
        argnums=(0, 1),
    )(xs, xs)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_jit_and_vmap_over_leading_batch():
    rng = np.random.default_rng(7)
    xs, xt = rng.normal(size=(3, 8, 3)), rng.normal(size=(3, 6, 3))
    ys = rng.integers(0, 4, size=(3, 8))
    pt = jax.nn.softmax(jnp.asarray(rng.normal(size=(3, 6, 4))), axis=-1)

    def f(a, b, y, p):
        return lmmd(a, b, y, p, num_classes=4, kernel=MultiGaussian.dsan())

    batched = jax.jit(jax.vmap(f))(xs, xt, ys, pt)
    for i in range(3):
        assert rel_err(batched[i], f(xs[i], xt[i], ys[i], pt[i])) <= 1e-12


XS, XT, YS, PT = make(seed=8)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"source": XS[:, :2]}, ValueError, r"`source` and `target` must have the same"),
        ({"target": XT[0]}, ValueError, r"`target` must be 2-D"),
        ({"source": XS[:0]}, ValueError, r"`source` is empty"),
        ({"source": XS.astype(np.int64)}, TypeError, r"`source` must hold floating"),
        ({"source_labels": YS.astype(float)}, TypeError, r"`source_labels` must hold integer"),
        ({"source_labels": YS[:-1]}, ValueError, r"`source_labels` and `source` must have one"),
        ({"source_labels": YS + 4}, ValueError, r"`source_labels` holds class indices"),
        ({"target_probs": PT[:-1]}, ValueError, r"`target_probs` and `target` must have one"),
        ({"target_probs": PT[:, :3]}, ValueError, r"`target_probs` must have num_classes=4"),
        ({"target_probs": PT[:, 0]}, ValueError, r"`target_probs` must be 2-D"),
        ({"target_probs": np.where(PT > 0.5, np.nan, PT)}, ValueError, r"`target_probs` .*NaN"),
        ({"num_classes": 0}, ValueError, r"`num_classes` must be a positive int"),
        ({"num_classes": 4.0}, TypeError, r"`num_classes` must be a positive int"),
        ({"kernel": "rbf"}, TypeError, r"`kernel` must be a dalib.kernels"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = {
        "source": XS,
        "target": XT,
        "source_labels": YS,
        "target_probs": PT,
        "num_classes": 4,
        "kernel": Gaussian(bandwidth=1.0),
        **kwargs,
    }
    num_classes, kernel = args.pop("num_classes"), args.pop("kernel")
    with pytest.raises(error, match=match):
        lmmd(**args, num_classes=num_classes, kernel=kernel)
