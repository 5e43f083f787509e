"""Tests for dalib.losses.mmd against plain NumPy loops and closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.kernels import Gaussian, InverseMultiquadric, Laplacian, Linear, MultiGaussian
from dalib.losses import mmd

RTOL = 1e-5

# ----------------------------------------------------------------------------- references
# Kernels on single vectors, written from their formulas.


def k_gauss(x, y, sigma):
    return math.exp(-float(np.sum((x - y) ** 2)) / (2.0 * sigma**2))


def k_laplace(x, y, sigma):
    return math.exp(-math.sqrt(float(np.sum((x - y) ** 2))) / sigma)


def k_imq(x, y, c, beta):
    return (1.0 + float(np.sum((x - y) ** 2)) / c**2) ** (-beta)


def k_linear(x, y):
    return float(np.dot(x, y))


def k_multi(x, y, base, multipliers):
    d2 = float(np.sum((x - y) ** 2))
    return sum(math.exp(-d2 / (2.0 * m * base)) for m in multipliers)


def dan_kernel(z):
    base = mean_sq_dist(z)
    return lambda a, b: k_multi(a, b, base, DAN_MULTS)


def mean_sq_dist(z):
    """mean over all N^2 pairs (diagonal included) of ||z_i - z_j||^2, by loops."""
    total = 0.0
    for a in z:
        for b in z:
            total += float(np.sum((a - b) ** 2))
    return total / len(z) ** 2


DAN_MULTS = (0.125, 0.25, 0.5, 1.0, 2.0)

# name -> (dalib kernel, NumPy kernel factory from the pooled sample)
KERNELS = {
    "gaussian": (Gaussian(bandwidth=1.3), lambda z: lambda a, b: k_gauss(a, b, 1.3)),
    "laplacian": (Laplacian(bandwidth=0.7), lambda z: lambda a, b: k_laplace(a, b, 0.7)),
    "imq": (
        InverseMultiquadric(scale=1.5, power=0.8),
        lambda z: lambda a, b: k_imq(a, b, 1.5, 0.8),
    ),
    "linear": (Linear(), lambda z: k_linear),
    "multi_fixed": (
        MultiGaussian(multipliers=(0.5, 2.0), bandwidth=0.9),
        lambda z: lambda a, b: k_multi(a, b, 0.9, (0.5, 2.0)),
    ),
    "dan": (MultiGaussian.dan(), dan_kernel),
}


def ref_mmd(xs, xt, k, estimator, ws=None, wt=None):
    """MMD^2 by explicit loops over pairs."""
    n, m = len(xs), len(xt)
    p = np.full(n, 1.0 / n) if ws is None else ws / ws.sum()
    q = np.full(m, 1.0 / m) if wt is None else wt / wt.sum()
    if estimator in ("biased", "unbiased"):
        off = estimator == "unbiased"
        ss = ss_den = tt = tt_den = st = 0.0
        for i in range(n):
            for j in range(n):
                if off and i == j:
                    continue
                ss += p[i] * p[j] * k(xs[i], xs[j])
                ss_den += p[i] * p[j]
        for i in range(m):
            for j in range(m):
                if off and i == j:
                    continue
                tt += q[i] * q[j] * k(xt[i], xt[j])
                tt_den += q[i] * q[j]
        for i in range(n):
            for j in range(m):
                st += p[i] * q[j] * k(xs[i], xt[j])
        return ss / ss_den + tt / tt_den - 2.0 * st

    def h(a, b):
        return k(xs[a], xs[b]) + k(xt[a], xt[b]) - k(xs[a], xt[b]) - k(xs[b], xt[a])

    if estimator == "linear":
        pairs = [(2 * i, 2 * i + 1) for i in range(min(n, m) // 2)]
    else:  # linear_cyclic
        length = min(n, m)
        pairs = [(i, (i + 1) % length) for i in range(length)]
    return sum(h(a, b) for a, b in pairs) / len(pairs)


def sample(n=7, m=5, d=3, seed=0, shift=0.5):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, d))
    xt = rng.normal(size=(m, d)) + shift
    return xs, xt


def rel_err(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-12)


# ----------------------------------------------------------------------------- values


ESTIMATOR_CONFIGS = [
    ("biased", False),
    ("biased", True),
    ("unbiased", False),
    ("unbiased", True),
    ("linear", False),
    ("linear_cyclic", False),
]
NUMPY_CASES = [("dan", *c) for c in ESTIMATOR_CONFIGS] + [
    ("multi_fixed", "linear", False),
    *[(k, "unbiased", True) for k in ("gaussian", "laplacian", "imq", "linear", "multi_fixed")],
    ("linear", "biased", False),
]


@pytest.mark.parametrize("kernel_name,estimator,weighted", NUMPY_CASES)
def test_matches_numpy_loops(kernel_name, estimator, weighted):
    xs, xt = sample(n=7, m=5, seed=1)
    kernel, np_kernel = KERNELS[kernel_name]
    k = np_kernel(np.concatenate([xs, xt]))
    ws = wt = None
    if weighted:
        rng = np.random.default_rng(2)
        ws, wt = rng.uniform(0.1, 2.0, size=7), rng.uniform(0.1, 2.0, size=5)
    got = mmd(xs, xt, kernel=kernel, estimator=estimator, source_weights=ws, target_weights=wt)
    want = ref_mmd(xs, xt, k, estimator, ws, wt)
    assert got.shape == ()
    assert rel_err(got, want) <= RTOL, (float(got), want)


@pytest.mark.parametrize("weighted", [False, True])
def test_linear_kernel_is_squared_mean_difference(weighted):
    xs, xt = sample(seed=3)
    ws = np.linspace(0.2, 1.0, 7) if weighted else np.ones(7)
    wt = np.linspace(1.0, 3.0, 5) if weighted else np.ones(5)
    got = mmd(xs, xt, kernel=Linear(), source_weights=ws, target_weights=wt)
    diff = (ws / ws.sum()) @ xs - (wt / wt.sum()) @ xt
    assert rel_err(got, diff @ diff) <= RTOL


def test_uniform_weights_equal_no_weights():
    xs, xt = sample(seed=4)
    kernel = MultiGaussian.dan()
    for est in ("biased", "unbiased"):
        plain = mmd(xs, xt, kernel=kernel, estimator=est)
        weighted = mmd(
            xs,
            xt,
            kernel=kernel,
            estimator=est,
            source_weights=3.0 * np.ones(7),
            target_weights=np.full(5, 0.1),
        )
        assert rel_err(weighted, plain) <= 1e-12


def tllib_index_matrix(b, linear):
    """TLlib's DAN index matrix (non-linear: U-statistic; linear: cyclic pairs)."""
    mat = np.zeros((2 * b, 2 * b))
    if linear:
        for i in range(b):
            s1, s2 = i, (i + 1) % b
            t1, t2 = s1 + b, s2 + b
            mat[s1, s2] = 1.0 / b
            mat[t1, t2] = 1.0 / b
            mat[s1, t2] = -1.0 / b
            mat[s2, t1] = -1.0 / b
    else:
        for i in range(b):
            for j in range(b):
                if i != j:
                    mat[i, j] = 1.0 / (b * (b - 1))
                    mat[i + b, j + b] = 1.0 / (b * (b - 1))
        for i in range(b):
            for j in range(b):
                mat[i, j + b] = -1.0 / (b * b)
                mat[i + b, j] = -1.0 / (b * b)
    return mat


@pytest.mark.parametrize("linear,estimator", [(False, "unbiased"), (True, "linear_cyclic")])
def test_dan_setting_reproduces_tllib(linear, estimator):
    b = 6
    xs, xt = sample(n=b, m=b, seed=5)
    z = np.concatenate([xs, xt])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    gram = sum(np.exp(-d2 / (2.0 * alpha * d2.mean())) for alpha in [2.0**k for k in range(-3, 2)])
    tllib = (gram * tllib_index_matrix(b, linear)).sum() + 2.0 / (b - 1)
    got = mmd(xs, xt, kernel=MultiGaussian.dan(), estimator=estimator)
    # TLlib adds 2/(b-1) "to keep the loss positive"; dalib does not.
    assert rel_err(got, tllib - 2.0 / (b - 1)) <= 1e-10


def test_deepda_mmd_loss_is_biased_with_dsan_kernel():
    b = 6
    xs, xt = sample(n=b, m=b, seed=6)
    z = np.concatenate([xs, xt])
    n_all = len(z)
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    bw = d2.sum() / (n_all**2 - n_all) / 2.0 ** (5 // 2)
    gram = sum(np.exp(-d2 / (bw * 2.0**i)) for i in range(5))
    want = gram[:b, :b].mean() + gram[b:, b:].mean() - gram[:b, b:].mean() - gram[b:, :b].mean()
    got = mmd(xs, xt, kernel=MultiGaussian.dsan(), estimator="biased")
    assert rel_err(got, want) <= 1e-10


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("kernel_name", ["gaussian", "laplacian", "dan"])
def test_biased_nonnegative_and_zero_on_identical(kernel_name):
    kernel = KERNELS[kernel_name][0]
    for seed in range(3):
        xs, xt = sample(seed=seed, shift=0.0)
        assert float(mmd(xs, xt, kernel=kernel)) >= 0.0
    assert abs(float(mmd(xs, xs, kernel=kernel))) <= 1e-12
    w = np.linspace(0.5, 2.0, 7)
    same = mmd(xs, xs, kernel=kernel, source_weights=w, target_weights=w)
    assert abs(float(same)) <= 1e-12


@pytest.mark.parametrize("estimator", ["biased", "unbiased", "linear", "linear_cyclic"])
def test_symmetric(estimator):
    xs, xt = sample(seed=7)
    kernel = MultiGaussian.dan()
    kw = {}
    if estimator in ("biased", "unbiased"):
        kw = {"source_weights": np.linspace(1, 2, 7), "target_weights": np.linspace(1, 3, 5)}
    ab = mmd(xs, xt, kernel=kernel, estimator=estimator, **kw)
    kw_swapped = {
        "source_weights": kw.get("target_weights"),
        "target_weights": kw.get("source_weights"),
    }
    ba = mmd(xt, xs, kernel=kernel, estimator=estimator, **kw_swapped)
    assert rel_err(ba, ab) <= 1e-12


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_permutation_invariant(estimator):
    xs, xt = sample(seed=8)
    ws, wt = np.linspace(1, 2, 7), np.linspace(1, 3, 5)
    kernel = Laplacian(bandwidth=1.0)
    base = mmd(xs, xt, kernel=kernel, estimator=estimator, source_weights=ws, target_weights=wt)
    rng = np.random.default_rng(0)
    ps, pt = rng.permutation(7), rng.permutation(5)
    perm = mmd(
        xs[ps],
        xt[pt],
        kernel=kernel,
        estimator=estimator,
        source_weights=ws[ps],
        target_weights=wt[pt],
    )
    assert rel_err(perm, base) <= 1e-9


def gaussian_mean_embedding_inner(delta_sq, sigma, d):
    """E exp(-||x - y||^2 / (2 sigma^2)) for x ~ N(a, I), y ~ N(b, I), ||a - b||^2 = delta_sq."""
    s2 = sigma**2 + 2.0
    return (sigma**2 / s2) ** (d / 2) * math.exp(-delta_sq / (2.0 * s2))


def test_unbiased_estimators_are_unbiased_and_biased_is_not():
    # P = N(0, I_2), Q = N(mu, I_2), Gaussian kernel: MMD^2 in closed form.
    d, sigma, n, m, draws = 2, 1.0, 4, 6, 10000
    mu = jnp.array([1.0, 0.0])
    c0 = gaussian_mean_embedding_inner(0.0, sigma, d)
    c_mu = gaussian_mean_embedding_inner(1.0, sigma, d)
    population = 2.0 * c0 - 2.0 * c_mu
    # E[V] = MMD^2 + (1/n + 1/m) (k(x, x) - E k(x, x')), k(x, x) = 1.
    biased_mean = population + (1.0 / n + 1.0 / m) * (1.0 - c0)
    kernel = Gaussian(bandwidth=sigma)
    ws = jnp.linspace(0.2, 1.8, n)  # fixed weights: the weighted U-statistic stays unbiased

    def one(key):
        ks, kt = jax.random.split(key)
        xs = jax.random.normal(ks, (n, d))
        xt = jax.random.normal(kt, (m, d)) + mu
        return jnp.stack(
            [
                mmd(xs, xt, kernel=kernel, estimator="unbiased"),
                mmd(xs, xt, kernel=kernel, estimator="unbiased", source_weights=ws),
                mmd(xs, xt, kernel=kernel, estimator="linear"),
                mmd(xs, xt, kernel=kernel, estimator="linear_cyclic"),
                mmd(xs, xt, kernel=kernel, estimator="biased"),
            ]
        )

    values = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), draws))
    means = np.asarray(values.mean(0))
    stderr = np.asarray(values.std(0)) / math.sqrt(draws)
    for i in range(4):  # every unbiased estimator within 4 standard errors
        assert abs(means[i] - population) <= 4 * stderr[i], (i, means[i], population)
    assert abs(means[4] - biased_mean) <= 4 * stderr[4]
    assert means[4] - population >= 20 * stderr[4]  # visibly biased


def test_unbiased_is_never_clipped():
    kernel = Gaussian(bandwidth=1.0)

    @jax.jit
    @jax.vmap
    def pair(key):
        ks, kt = jax.random.split(key)
        xs, xt = jax.random.normal(ks, (5, 2)), jax.random.normal(kt, (5, 2))
        return jnp.stack(
            [
                mmd(xs, xt, kernel=kernel, estimator="unbiased"),
                mmd(xs, xt, kernel=kernel, estimator="biased"),
            ]
        )

    unbiased, biased = pair(jax.random.split(jax.random.key(1), 200)).T
    assert float(unbiased.min()) < 0.0  # same distribution: negative values must show
    assert float(jnp.mean(unbiased < 0)) > 0.2
    assert float(biased.min()) >= 0.0


# ----------------------------------------------------------------------------- gradients


def test_check_grads_every_estimator():
    xs, xt = sample(seed=9)
    ws = np.linspace(0.5, 1.5, 7)
    kernel = MultiGaussian(multipliers=(0.5, 2.0), bandwidth=1.0)

    @jax.jit
    def f(a, b):
        # one weighted sum: a wrong gradient in any estimator shows up here
        return (
            mmd(a, b, kernel=kernel, estimator="biased", source_weights=ws)
            + 2.0 * mmd(a, b, kernel=kernel, estimator="unbiased", source_weights=ws)
            + 3.0 * mmd(a, b, kernel=kernel, estimator="unbiased")
            + 4.0 * mmd(a, b, kernel=kernel, estimator="linear")
            + 5.0 * mmd(a, b, kernel=kernel, estimator="linear_cyclic")
        )

    check_grads(f, (xs, xt), order=1, modes=("rev",))


@pytest.mark.slow
def test_check_grads_second_order():
    xs, xt = sample(seed=10)
    check_grads(
        jax.jit(lambda a, b: mmd(a, b, kernel=Gaussian(bandwidth=1.2), estimator="unbiased")),
        (xs, xt),
        order=2,
        modes=("rev",),
    )


def test_check_grads_in_bandwidth():
    # a fixed bandwidth is a traced leaf: the loss is differentiable in it too,
    # through the tiles as well
    xs, xt = sample(seed=10)

    @jax.jit
    def f(s):
        dense = mmd(xs, xt, kernel=Gaussian(bandwidth=s))
        return dense + 2.0 * mmd(xs, xt, kernel=Gaussian(bandwidth=s), block_size=3)

    check_grads(f, (1.3,), order=1, modes=("rev",))


@pytest.mark.parametrize(
    "kernel",
    [
        Laplacian(bandwidth=1.0),
        MultiGaussian.dan(),
    ],
    ids=["laplacian", "dan"],
)
def test_gradients_finite_on_identical_sets(kernel):
    xs, _ = sample(seed=11)

    @jax.jit
    def values_and_grads(a, b):
        return [
            jax.value_and_grad(
                lambda a, b, e=e: mmd(a, b, kernel=kernel, estimator=e), argnums=(0, 1)
            )(a, b)
            for e in ("biased", "unbiased", "linear")
        ]

    for value, grads in values_and_grads(xs, xs):
        assert np.isfinite(float(value))
        assert all(np.all(np.isfinite(g)) for g in grads)


# ----------------------------------------------------------------------------- transforms


def test_jit_matches_eager():
    estimator = "unbiased"
    xs, xt = sample(seed=13)
    kernel = MultiGaussian.dsan()
    eager = mmd(xs, xt, kernel=kernel, estimator=estimator)
    jitted = jax.jit(lambda a, b: mmd(a, b, kernel=kernel, estimator=estimator))(xs, xt)
    assert rel_err(jitted, eager) <= 1e-12


def test_vmap_over_leading_batch():
    rng = np.random.default_rng(14)
    xs, xt = rng.normal(size=(3, 7, 3)), rng.normal(size=(3, 5, 3)) + 0.3
    ws, wt = rng.uniform(0.5, 1.5, size=(3, 7)), rng.uniform(0.5, 1.5, size=(3, 5))
    kernel = MultiGaussian.dan()

    def f(a, b, v, w, block_size=None):
        return mmd(
            a,
            b,
            kernel=kernel,
            estimator="unbiased",
            source_weights=v,
            target_weights=w,
            block_size=block_size,
        )

    batched = jax.jit(jax.vmap(lambda *args: jnp.stack([f(*args), f(*args, block_size=4)])))
    values = batched(xs, xt, ws, wt)
    assert values.shape == (3, 2)
    for i in range(3):
        single = f(xs[i], xt[i], ws[i], wt[i])
        assert rel_err(values[i, 0], single) <= 1e-12
        assert rel_err(values[i, 1], single) <= 1e-10


def test_nan_propagates_under_jit():
    xs, xt = sample(seed=15)
    xs[0, 0] = np.nan
    out = jax.jit(lambda a, b: mmd(a, b, kernel=Gaussian(bandwidth=1.0)))(xs, xt)
    assert np.isnan(float(out))


# ----------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("block_size", [3, 4, 16])
def test_block_size_equals_dense(block_size):
    # n = 13, m = 10: block sizes that divide neither, and one larger than both.
    xs, xt = sample(n=13, m=10, d=3, seed=16)
    rng = np.random.default_rng(17)
    ws, wt = rng.uniform(0.1, 2.0, 13), rng.uniform(0.1, 2.0, 10)
    weights = {"source_weights": ws, "target_weights": wt}
    configs = [
        (MultiGaussian.dan(), "unbiased", weights),
        (InverseMultiquadric(scale=0.8), "biased", {}),
    ]

    @jax.jit
    def tiled(a, b):
        return jnp.stack(
            [mmd(a, b, kernel=k, estimator=e, block_size=block_size, **kw) for k, e, kw in configs]
        )

    got = tiled(xs, xt)
    for value, (kernel, est, kw) in zip(got, configs, strict=True):
        dense = mmd(xs, xt, kernel=kernel, estimator=est, **kw)
        assert rel_err(value, dense) <= 1e-10, (kernel, est, kw.keys())


def test_block_size_laplacian_within_sqrt_eps():
    # The Laplacian takes a square root of distances computed as |x|^2+|y|^2-2x.y,
    # so near-coincident points (the diagonal) carry sqrt(eps) round-off that
    # differs between tilings.
    xs, xt = sample(n=13, m=10, seed=22)
    kernel = Laplacian(bandwidth=1.0)
    dense = mmd(xs, xt, kernel=kernel)
    tiled = mmd(xs, xt, kernel=kernel, block_size=4)
    assert rel_err(tiled, dense) <= 1e-6


def test_block_size_gradients_equal_dense_and_bandwidth_has_no_gradient():
    xs, xt = sample(n=13, m=10, seed=18)
    ws = np.linspace(0.5, 1.5, 13)

    def f(a, b, kernel, block):
        return mmd(a, b, kernel=kernel, estimator="unbiased", source_weights=ws, block_size=block)

    grad = jax.grad(f, argnums=(0, 1))
    kernel = MultiGaussian.dan()
    dense = grad(xs, xt, kernel, None)
    tiled = jax.jit(grad, static_argnums=3)(xs, xt, kernel, 4)
    for g_t, g_d in zip(tiled, dense, strict=True):
        np.testing.assert_allclose(g_t, g_d, rtol=1e-9, atol=1e-13)
    # the data-driven bandwidth is under stop_gradient: same gradient as with the
    # bandwidth frozen at its value
    fixed = kernel.resolve(jnp.asarray(xs), jnp.asarray(xt))
    for g_f, g_d in zip(grad(xs, xt, fixed, None), dense, strict=True):
        np.testing.assert_allclose(g_f, g_d, rtol=1e-10, atol=1e-14)


def test_block_size_float32_matches_dense():
    xs, xt = sample(n=300, m=200, d=8, seed=19)
    xs, xt = xs.astype(np.float32), xt.astype(np.float32)
    kernel = Gaussian(bandwidth=2.0)
    dense = mmd(xs, xt, kernel=kernel, estimator="unbiased")
    tiled = mmd(xs, xt, kernel=kernel, estimator="unbiased", block_size=64)
    assert tiled.dtype == jnp.float32
    assert rel_err(tiled, dense) <= 1e-4


def test_median_bandwidth_with_block_size_raises():
    xs, xt = sample(seed=20)
    with pytest.raises(ValueError, match="`kernel` uses the 'median' bandwidth rule"):
        mmd(xs, xt, kernel=MultiGaussian(bandwidth="median"), block_size=4)


# ----------------------------------------------------------------------------- bad input

GOOD_S, GOOD_T = sample(seed=21)
GK = Gaussian(bandwidth=1.0)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"source": GOOD_S[0]}, ValueError, r"`source` must be 2-D .*shape \(3,\)"),
        ({"target": GOOD_T[None]}, ValueError, r"`target` must be 2-D"),
        ({"target": GOOD_T[:, :2]}, ValueError, r"`source` and `target` must have the same"),
        ({"source": GOOD_S[:0]}, ValueError, r"`source` is empty"),
        ({"target": np.ones((5, 3), dtype=np.int32)}, TypeError, r"`target` must hold floating"),
        ({"source": np.where(GOOD_S > 1.0, np.nan, GOOD_S)}, ValueError, r"`source` .*NaN"),
        ({"estimator": "quadratic"}, ValueError, r"`estimator` must be one of"),
        ({"kernel": lambda a, b: a @ b.T}, TypeError, r"`kernel` must be a dalib.kernels"),
        ({"source_weights": np.ones(6)}, ValueError, r"`source_weights` must have one weight"),
        ({"target_weights": -np.ones(5)}, ValueError, r"`target_weights` .*non-negative"),
        ({"target_weights": np.zeros(5)}, ValueError, r"`target_weights` .*sums to 0"),
        ({"source_weights": np.ones(7, dtype=int)}, TypeError, r"`source_weights` must hold"),
        (
            {"source_weights": np.ones(7), "estimator": "linear"},
            ValueError,
            r"`source_weights`/`target_weights` are not supported",
        ),
        ({"block_size": 0}, ValueError, r"`block_size` must be a positive int"),
        ({"block_size": 2.5}, TypeError, r"`block_size` must be a positive int"),
        (
            {"source": GOOD_S[:1], "estimator": "unbiased"},
            ValueError,
            r"`source` has 1 samples .*unbiased",
        ),
        (
            {"target": GOOD_T[:1], "estimator": "linear"},
            ValueError,
            r"`target` has 1 samples",
        ),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    args = {"source": GOOD_S, "target": GOOD_T, "kernel": GK, **kwargs}
    with pytest.raises(error, match=match):
        mmd(**args)
