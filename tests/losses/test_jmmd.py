"""Tests for dalib.losses.jmmd (JAN's joint MMD) against plain NumPy loops."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.kernels import Gaussian, Laplacian, MultiGaussian
from dalib.losses import jmmd, mmd

DAN_MULTS = (0.125, 0.25, 0.5, 1.0, 2.0)


def k_gauss(x, y, sigma):
    return math.exp(-float(np.sum((x - y) ** 2)) / (2.0 * sigma**2))


def k_dan(x, y, base):
    d2 = float(np.sum((x - y) ** 2))
    return sum(math.exp(-d2 / (2.0 * m * base)) for m in DAN_MULTS)


def mean_sq_dist(z):
    return sum(float(np.sum((a - b) ** 2)) for a in z for b in z) / len(z) ** 2


def layers(n=7, m=5, seed=0):
    """Features (d=3) and softmax outputs (C=4) for both domains."""
    rng = np.random.default_rng(seed)
    fs, ft = rng.normal(size=(n, 3)), rng.normal(size=(m, 3)) + 0.4
    ps = np.exp(rng.normal(size=(n, 4)))
    pt = np.exp(rng.normal(size=(m, 4)) + 0.3)
    return (fs, ps / ps.sum(1, keepdims=True)), (ft, pt / pt.sum(1, keepdims=True))


KERNELS = (MultiGaussian.dan(), Gaussian(bandwidth=0.92))


def ref_jmmd(src, tgt, estimator, ws=None, wt=None):
    """Joint MMD by loops; layer 0 uses the DAN kernel, layer 1 a Gaussian(0.92)."""
    base = mean_sq_dist(np.concatenate([src[0], tgt[0]]))

    def k(a_layers, i, b_layers, j):
        return k_dan(a_layers[0][i], b_layers[0][j], base) * k_gauss(
            a_layers[1][i], b_layers[1][j], 0.92
        )

    n, m = len(src[0]), len(tgt[0])
    if estimator in ("biased", "unbiased"):
        p = np.full(n, 1 / n) if ws is None else ws / ws.sum()
        q = np.full(m, 1 / m) if wt is None else wt / wt.sum()
        off = estimator == "unbiased"
        ss = sum(
            p[i] * p[j] * k(src, i, src, j)
            for i in range(n)
            for j in range(n)
            if not (off and i == j)
        )
        ss_den = sum(p[i] * p[j] for i in range(n) for j in range(n) if not (off and i == j))
        tt = sum(
            q[i] * q[j] * k(tgt, i, tgt, j)
            for i in range(m)
            for j in range(m)
            if not (off and i == j)
        )
        tt_den = sum(q[i] * q[j] for i in range(m) for j in range(m) if not (off and i == j))
        st = sum(p[i] * q[j] * k(src, i, tgt, j) for i in range(n) for j in range(m))
        return ss / ss_den + tt / tt_den - 2 * st
    if estimator == "linear":
        pairs = [(2 * i, 2 * i + 1) for i in range(min(n, m) // 2)]
    else:
        length = min(n, m)
        pairs = [(i, (i + 1) % length) for i in range(length)]
    total = 0.0
    for a, b in pairs:
        total += k(src, a, src, b) + k(tgt, a, tgt, b) - k(src, a, tgt, b) - k(src, b, tgt, a)
    return total / len(pairs)


def rel_err(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-12)


@pytest.mark.parametrize(
    "estimator,weighted",
    [
        ("biased", True),
        ("unbiased", False),
        ("unbiased", True),
        ("linear", False),
        ("linear_cyclic", False),
    ],
)
def test_matches_numpy_loops(estimator, weighted):
    src, tgt = layers()
    ws = wt = None
    if weighted:
        ws, wt = np.linspace(0.2, 2.0, 7), np.linspace(1.0, 0.5, 5)
    got = jmmd(src, tgt, kernels=KERNELS, estimator=estimator, source_weights=ws, target_weights=wt)
    assert got.shape == ()
    assert rel_err(got, ref_jmmd(src, tgt, estimator, ws, wt)) <= 1e-5


def test_one_layer_is_mmd():
    src, tgt = layers()
    for est in ("biased", "unbiased"):
        one = jmmd([src[0]], [tgt[0]], kernels=[KERNELS[0]], estimator=est)
        assert rel_err(one, mmd(src[0], tgt[0], kernel=KERNELS[0], estimator=est)) <= 1e-12


def test_product_of_two_gaussians_is_a_narrower_gaussian():
    # exp(-D/(2s^2))^2 = exp(-D/(2 (s/sqrt 2)^2)): two copies of a layer under a
    # single Gaussian equal MMD with bandwidth s/sqrt(2).
    src, tgt = layers(seed=1)
    joint = jmmd([src[0], src[0]], [tgt[0], tgt[0]], kernels=Gaussian(bandwidth=1.5))
    single = mmd(src[0], tgt[0], kernel=Gaussian(bandwidth=1.5 / math.sqrt(2.0)))
    assert rel_err(joint, single) <= 1e-12


def tllib_index_matrix(b, linear):
    mat = np.zeros((2 * b, 2 * b))
    if linear:
        for i in range(b):
            s1, s2 = i, (i + 1) % b
            mat[s1, s2] = mat[s1 + b, s2 + b] = 1.0 / b
            mat[s1, s2 + b] = mat[s2, s1 + b] = -1.0 / b
    else:
        for i in range(b):
            for j in range(b):
                if i != j:
                    mat[i, j] = mat[i + b, j + b] = 1.0 / (b * (b - 1))
                mat[i, j + b] = mat[i + b, j] = -1.0 / (b * b)
    return mat


@pytest.mark.parametrize("linear,estimator", [(False, "unbiased"), (True, "linear_cyclic")])
def test_jan_setting_reproduces_tllib(linear, estimator):
    b = 6
    src, tgt = layers(n=b, m=b, seed=2)
    gram = np.ones((2 * b, 2 * b))
    z = np.concatenate([src[0], tgt[0]])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    gram *= sum(np.exp(-d2 / (2 * 2.0**k * d2.mean())) for k in range(-3, 2))
    z = np.concatenate([src[1], tgt[1]])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    gram *= np.exp(-d2 / (2 * 0.92**2))
    tllib = (gram * tllib_index_matrix(b, linear)).sum() + 2.0 / (b - 1)
    got = jmmd(src, tgt, kernels=KERNELS, estimator=estimator)
    assert rel_err(got, tllib - 2.0 / (b - 1)) <= 1e-10


def test_check_grads_every_estimator():
    src, tgt = layers(seed=3)
    kernels = (MultiGaussian(multipliers=(0.5, 2.0), bandwidth=1.0), Gaussian(bandwidth=0.92))
    ws = np.linspace(0.5, 1.5, 7)

    @jax.jit
    def f(fs, ps, ft, pt):
        # one weighted sum: a wrong gradient in any estimator shows up here
        out = 0.0
        for c, est in enumerate(("biased", "unbiased", "linear", "linear_cyclic"), start=1):
            w = ws if est in ("biased", "unbiased") else None
            out += c * jmmd((fs, ps), (ft, pt), kernels=kernels, estimator=est, source_weights=w)
        return out

    check_grads(f, (*src, *tgt), order=1, modes=("rev",))


def test_block_size_equals_dense():
    src, tgt = layers(n=11, m=6, seed=4)
    ws = np.linspace(0.5, 1.5, 11)
    kw = {"kernels": KERNELS, "estimator": "unbiased", "source_weights": ws}
    dense = jmmd(src, tgt, **kw)
    assert rel_err(jmmd(src, tgt, block_size=4, **kw), dense) <= 1e-10


def test_vmap_over_leading_batch_and_finite_grads_on_identical_sets():
    rng = np.random.default_rng(5)
    fs, ft = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 4, 2))
    ps, pt = rng.uniform(size=(3, 6, 3)), rng.uniform(size=(3, 4, 3))

    def f(fs, ps, ft, pt):
        return jmmd((fs, ps), (ft, pt), kernels=KERNELS, estimator="unbiased")

    batched = jax.jit(jax.vmap(f))(fs, ps, ft, pt)
    for i in range(3):
        assert rel_err(batched[i], f(fs[i], ps[i], ft[i], pt[i])) <= 1e-12
    grads = jax.grad(f, argnums=(0, 1, 2, 3))(fs[0], ps[0], fs[0], ps[0])
    assert all(np.all(np.isfinite(g)) for g in grads)


SRC, TGT = layers(seed=6)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"sources": SRC[0]}, TypeError, r"`sources` must be a sequence"),
        ({"targets": []}, ValueError, r"`targets` must hold at least one layer"),
        ({"targets": [TGT[0]]}, ValueError, r"same number of layers, got 2 and 1"),
        ({"sources": [SRC[0], SRC[1][:-1]]}, ValueError, r"every layer of `sources`"),
        ({"targets": [TGT[0], TGT[1][:-1]]}, ValueError, r"every layer of `targets`"),
        ({"targets": [TGT[0], TGT[1][:, :2]]}, ValueError, r"`sources\[1\]` and `targets\[1\]`"),
        ({"sources": [SRC[0][0], SRC[1]]}, ValueError, r"`sources\[0\]` must be 2-D"),
        ({"sources": [SRC[0][:0], SRC[1][:0]]}, ValueError, r"`sources\[0\]` is empty"),
        ({"targets": [TGT[0].astype(int), TGT[1]]}, TypeError, r"`targets\[0\]` must hold float"),
        ({"kernels": KERNELS[:1]}, ValueError, r"`kernels` must give one kernel per layer"),
        ({"kernels": "dan"}, TypeError, r"`kernels` must be a Kernel"),
        ({"kernels": (KERNELS[0], None)}, TypeError, r"`kernels\[1\]` must be a dalib"),
        ({"estimator": "mixed"}, ValueError, r"`estimator` must be one of"),
        (
            {"kernels": (MultiGaussian(bandwidth="median"), Laplacian()), "block_size": 3},
            ValueError,
            r"`kernels\[0\]` uses the 'median' bandwidth rule",
        ),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = {"sources": list(SRC), "targets": list(TGT), "kernels": KERNELS, **kwargs}
    with pytest.raises(error, match=match):
        jmmd(**args)


def test_nan_on_concrete_input_raises():
    fs = np.array(SRC[0])
    fs[1, 1] = np.inf
    with pytest.raises(ValueError, match=r"`sources\[0\]` .*NaN or infinite"):
        jmmd([fs, SRC[1]], list(TGT), kernels=KERNELS)
    assert np.isnan(float(jax.jit(lambda a: jmmd([a, SRC[1]], list(TGT), kernels=KERNELS))(fs)))


def test_single_kernel_for_every_layer():
    k = Gaussian(bandwidth=1.1)
    a = jmmd(list(SRC), list(TGT), kernels=k)
    b = jmmd(list(SRC), list(TGT), kernels=(k, k))
    assert float(a) == float(b)
    assert jnp.isfinite(a)
