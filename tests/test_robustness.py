"""Numerical robustness and input validation across the library (issue 16).

Every case of the issue's sweep: either the value is asserted (float32 results
equal float64 results on the very same rounded inputs, at any translation and
extreme scales) or the clear error is (its type and the argument it names).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dalib import _checks, losses, metrics
from dalib import train as T
from dalib.data import load_table, save_table
from dalib.kernels import (
    Gaussian,
    InverseMultiquadric,
    Laplacian,
    Linear,
    MultiGaussian,
    pairwise_sq_dists,
)
from dalib.ops import gradient_reversal
from dalib.stats import mmd_test

RNG = np.random.default_rng(0)
S = RNG.standard_normal((40, 5))
T_ = RNG.standard_normal((32, 5)) + 0.7
OFFSETS = (0.0, 1e2, 1e4, 1e6)
RTOL = 1e-4

KERNELS = {
    "gaussian": Gaussian(2.0),
    "laplacian": Laplacian(2.0),
    "imq": InverseMultiquadric(2.0),
    "linear": Linear(),
    "multi_fixed": MultiGaussian(bandwidth=1.5),
    "dan_mean": MultiGaussian.dan(),
    "dsan": MultiGaussian.dsan(),
    "median": MultiGaussian(bandwidth="median"),
}


def rounded(x: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """The float32 inputs at ``offset`` and the very same values in float64."""
    x32 = (x + offset).astype(np.float32)
    return x32, x32.astype(np.float64)


def rel(a, b) -> float:
    return abs(float(a) - float(b)) / abs(float(b))


# ----------------------------------------------------------------------------- references
# Plain NumPy float64 on the very same rounded inputs, distances by direct
# differences (no expansion): an independent second route to every value.


def np_sq_dists(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def np_base(rule, z):
    d = np_sq_dists(z, z)
    n = z.shape[0]
    if rule == "mean":
        return d.mean()
    if rule == "dsan":
        return 0.5 * d.sum() / (n * n - n)
    return 0.5 * np.median(d[np.triu_indices(n, 1)])


def np_gram(kernel, x, y, base=None):
    if isinstance(kernel, Linear):
        return x @ y.T
    d = np_sq_dists(x, y)
    if isinstance(kernel, Gaussian):
        return np.exp(-d / (2 * kernel.bandwidth**2))
    if isinstance(kernel, Laplacian):
        return np.exp(-np.sqrt(d) / kernel.bandwidth)
    if isinstance(kernel, InverseMultiquadric):
        return (1 + d / kernel.scale**2) ** (-kernel.power)
    b = kernel.bandwidth if base is None else base
    return sum(np.exp(-d / (2 * m * b)) for m in kernel.multipliers)


def np_mmd(kernel, s, t, estimator, ws=None):
    if isinstance(kernel, Linear):
        # x @ y.T itself cancels far from the origin, even in float64; the linear
        # kernel's MMD depends on mean differences only, so centre the reference.
        c = np.concatenate([s, t]).mean(0)
        s, t = s - c, t - c
    base = None
    if isinstance(kernel, MultiGaussian) and isinstance(kernel.bandwidth, str):
        base = np_base(kernel.bandwidth, np.concatenate([s, t]))
    k = lambda a, b: np_gram(kernel, a, b, base)  # noqa: E731
    if estimator.startswith("linear"):
        n = min(len(s), len(t))
        if estimator == "linear":
            a = 2 * np.arange(n // 2)
            b = a + 1
        else:
            a = np.arange(n)
            b = (a + 1) % n
        h = [k(s[i:i + 1], s[j:j + 1]) + k(t[i:i + 1], t[j:j + 1]) - k(s[i:i + 1], t[j:j + 1])
             - k(s[j:j + 1], t[i:i + 1]) for i, j in zip(a, b, strict=True)]
        return float(np.mean(h))
    p = np.full(len(s), 1 / len(s)) if ws is None else ws / ws.sum()
    q = np.full(len(t), 1 / len(t))
    kss, ktt, kst = k(s, s), k(t, t), k(s, t)
    if estimator == "unbiased":
        np.fill_diagonal(kss, 0)
        np.fill_diagonal(ktt, 0)
        return p @ kss @ p / (1 - p @ p) + q @ ktt @ q / (1 - q @ q) - 2 * p @ kst @ q
    return p @ kss @ p + q @ ktt @ q - 2 * p @ kst @ q


# ----------------------------------------------------------------------------- translation


def check_mmd(kernel, estimator, block, offsets=OFFSETS, ws=None):
    for offset in offsets:
        s32, s64 = rounded(S, offset)
        t32, t64 = rounded(T_, offset)
        kw = {"kernel": kernel, "estimator": estimator, "block_size": block}
        v32 = losses.mmd(s32, t32, source_weights=ws, **kw)
        assert v32.dtype == jnp.float32
        want = np_mmd(kernel, s64, t64, estimator, ws)
        assert rel(v32, want) <= RTOL, (kernel, estimator, block, offset, float(v32), want)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_every_kernel_translation_stable(name):
    check_mmd(KERNELS[name], "biased", None)


@pytest.mark.parametrize(
    ("estimator", "block"),
    [("biased", 16), ("unbiased", None), ("unbiased", 16), ("linear", None),
     ("linear_cyclic", None)],
)
def test_every_estimator_translation_stable(estimator, block):
    check_mmd(MultiGaussian.dan(), estimator, block)


def test_linear_kernel_and_weights_translation_stable():
    w = np.linspace(0.5, 1.5, S.shape[0])
    check_mmd(Linear(), "unbiased", 16)
    check_mmd(Gaussian(2.0), "unbiased", None, ws=w)
    check_mmd(MultiGaussian.dan(), "biased", 16, ws=w)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_full_matrix_float32_matches_float64(name):
    kernel = KERNELS[name]
    for offset in OFFSETS:
        s32, s64 = rounded(S, offset)
        t32, t64 = rounded(T_, offset)
        for estimator in ["biased", "unbiased", "linear", "linear_cyclic"]:
            blocks = [None] if name == "median" or estimator.startswith("linear") else [None, 16]
            for block in blocks:
                kw = {"kernel": kernel, "estimator": estimator, "block_size": block}
                v32 = losses.mmd(s32, t32, **kw)
                v64 = losses.mmd(s64, t64, **kw)
                assert rel(v32, v64) <= RTOL, (offset, estimator, block, float(v32), float(v64))


@pytest.mark.parametrize("name", ["gaussian", "laplacian", "imq", "multi_fixed", "dan_mean"])
def test_kernels_called_directly_are_translation_stable(name):
    kernel = KERNELS[name]
    for offset in OFFSETS:
        s32, s64 = rounded(S, offset)
        t32, t64 = rounded(T_, offset)
        g32, g64 = np.asarray(kernel(s32, t32)), np.asarray(kernel(s64, t64))
        np.testing.assert_allclose(g32, g64, rtol=RTOL, atol=1e-6 * np.abs(g64).max())
        d32 = np.asarray(pairwise_sq_dists(s32, t32))
        d64 = np.asarray(pairwise_sq_dists(s64, t64))
        np.testing.assert_allclose(d32, d64, rtol=RTOL, atol=1e-5 * d64.max())


def test_gram_diagonal_exact_at_large_scale():
    x = (S * 1e6).astype(np.float32)
    gram = Gaussian(1.0)(x, x.copy())
    np.testing.assert_array_equal(np.diagonal(np.asarray(gram)), 1.0)
    assert np.all(np.diagonal(np.asarray(pairwise_sq_dists(x, x.copy()))) == 0.0)


def test_jmmd_lmmd_and_test_statistic_translation_stable():
    ps = np.asarray(jax.nn.softmax(jnp.asarray(RNG.standard_normal((40, 3)))))
    pt = np.asarray(jax.nn.softmax(jnp.asarray(RNG.standard_normal((32, 3)))))
    ys = np.arange(40) % 3
    dan, g = MultiGaussian.dan(), Gaussian(0.92)
    for offset in OFFSETS:
        s32, s64 = rounded(S, offset)
        t32, t64 = rounded(T_, offset)
        ps32, pt32 = ps.astype(np.float32), pt.astype(np.float32)
        # jmmd, biased: the quadratic form of the product of the two layers' Grams
        z = np.concatenate([s64, t64])
        base = np_base("mean", z)
        zp = np.concatenate([ps32, pt32]).astype(np.float64)
        k = np_gram(dan, z, z, base) * np_gram(g, zp, zp)
        v = np.concatenate([np.full(40, 1 / 40), np.full(32, -1 / 32)])
        for block in (None, 16):
            got = losses.jmmd([s32, ps32], [t32, pt32], kernels=[dan, g], block_size=block)
            assert rel(got, v @ k @ v) <= RTOL, (offset, block)
        v32 = losses.lmmd(s32, t32, ys, pt32, num_classes=3, kernel=MultiGaussian.dsan())
        v64 = losses.lmmd(s64, t64, ys, pt32.astype(np.float64), num_classes=3,
                          kernel=MultiGaussian.dsan())
        assert rel(v32, v64) <= RTOL, offset
        stat, _ = mmd_test(s32, t32, kernel=dan, num_permutations=9, key=jax.random.key(0))
        assert rel(stat, np_mmd(dan, s64, t64, "biased")) <= RTOL, offset


@pytest.mark.parametrize("rule", ["mean", "dsan", "median"])
def test_data_driven_bandwidth_translation_stable(rule):
    for offset in OFFSETS:
        s32, s64 = rounded(S, offset)
        t32, t64 = rounded(T_, offset)
        b32 = MultiGaussian(bandwidth=rule).resolve(s32, t32).bandwidth
        b64 = MultiGaussian(bandwidth=rule).resolve(s64, t64).bandwidth
        assert rel(b32, b64) <= RTOL, (offset, float(b32), float(b64))


# ----------------------------------------------------------------------------- scale


@pytest.mark.parametrize("rule", ["dan", "dsan", "median"])
def test_data_driven_bandwidth_is_scale_free(rule):
    kernel = {"dan": MultiGaussian.dan(), "dsan": MultiGaussian.dsan()}.get(
        rule, MultiGaussian(bandwidth="median")
    )
    s, t = S.astype(np.float32), T_.astype(np.float32)
    ref = losses.mmd(s.astype(np.float64), t.astype(np.float64), kernel=kernel)
    grad = jax.grad(lambda a: losses.mmd(a, t.astype(np.float64), kernel=kernel))
    g_ref = np.asarray(grad(s.astype(np.float64)))
    for scale in (1e-20, 1e20):
        value = losses.mmd(s * np.float32(scale), t * np.float32(scale), kernel=kernel)
        assert rel(value, ref) <= RTOL, (scale, float(value), float(ref))
        g = jax.grad(lambda a, c=scale: losses.mmd(a, t * np.float32(c), kernel=kernel))(
            s * np.float32(scale)
        )
        assert np.all(np.isfinite(np.asarray(g)))
        np.testing.assert_allclose(np.asarray(g) * scale, g_ref, rtol=1e-3, atol=1e-4)


def test_resolving_at_an_unrepresentable_scale_is_refused():
    with pytest.raises(ValueError, match=r"overflows.*scale-free"):
        MultiGaussian.dan().resolve((S * 1e20).astype(np.float32))


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_kernel_bandwidths_refused(value):
    for make, name in (
        (Gaussian, "Gaussian.bandwidth"),
        (Laplacian, "Laplacian.bandwidth"),
        (lambda v: InverseMultiquadric(scale=v), "InverseMultiquadric.scale"),
        (lambda v: MultiGaussian(bandwidth=v), "MultiGaussian.bandwidth"),
    ):
        with pytest.raises(ValueError, match=name):
            make(value)


def test_traced_bandwidth_passes_under_jit():
    out = jax.jit(lambda b: Gaussian(b)(jnp.zeros((1, 1)), jnp.ones((1, 1))))(2.0)
    np.testing.assert_allclose(float(out[0, 0]), np.exp(-1 / 8), rtol=1e-6)


def test_bad_multipliers_refused():
    with pytest.raises(ValueError, match="multipliers"):
        MultiGaussian(multipliers=(-1.0, 1.0))
    with pytest.raises(ValueError, match="multipliers"):
        MultiGaussian(multipliers=())


def test_resolve_on_no_sample_refused():
    with pytest.raises(ValueError, match=r"at least one sample.*\(0, 3\)"):
        MultiGaussian.dan().resolve(jnp.zeros((0, 3)))


def test_domain_adversarial_weights():
    zs, zt = jnp.zeros(4), jnp.zeros(3)
    with pytest.raises(ValueError, match=r"`source_weights`.*non-negative"):
        losses.domain_adversarial(zs, zt, source_weights=-jnp.ones(4))
    with pytest.raises(ValueError, match=r"`target_weights`.*sums to 0"):
        losses.domain_adversarial(zs, zt, target_weights=jnp.zeros(3), normalize_weights=True)
    # all-zero weights without normalisation are a legitimate (zero) term
    value = losses.domain_adversarial(zs, zt, target_weights=jnp.zeros(3))
    np.testing.assert_allclose(float(value), np.log(2.0), rtol=1e-6)


def test_mdd_margin_and_cmd_bounds():
    y = jnp.array([[2.0, 0.0]])
    with pytest.raises(ValueError, match="`margin`"):
        losses.mdd(y, y, y, y, margin=-1.0)
    with pytest.raises(ValueError, match=r"`bounds`.*low < high"):
        losses.cmd(S, T_, bounds=(1.0, 0.0))


def test_probability_inputs_checked():
    pt = np.full((32, 3), 1 / 3)
    pt_bad = pt.copy()
    pt_bad[0] = [-0.5, 1.0, 0.5]
    with pytest.raises(ValueError, match=r"`target_probs`.*class probabilities"):
        losses.lmmd(S, T_, np.arange(40) % 3, pt_bad, num_classes=3, kernel=Gaussian(1.0))
    logits = RNG.standard_normal((6, 3)) * 3
    with pytest.raises(ValueError, match=r"`probs`.*softmax"):
        losses.entropy_weights(logits)
    with pytest.raises(ValueError, match="`source_probs`"):
        losses.entropy_weights((np.full((2, 3), np.nan), pt))


def test_vclub_needs_two_samples():
    with pytest.raises(ValueError, match="`y` has 1 samples"):
        losses.vclub(jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.ones((1, 2)), key=jax.random.key(0))


def test_gradient_reversal_scale():
    with pytest.raises(ValueError, match="`scale`"):
        gradient_reversal(jnp.ones(2), float("nan"))
    # traced scales cannot be checked (documented): they pass
    g = jax.jit(jax.grad(lambda x, s: jnp.sum(gradient_reversal(x, s))), )(jnp.ones(2), 0.5)
    np.testing.assert_allclose(np.asarray(g), -0.5)


# ----------------------------------------------------------------------------- inputs


def test_grad_checks_concrete_values_like_the_value_path():
    bad = S.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"`source`.*NaN"):
        losses.mmd(bad, T_, kernel=Gaussian(1.0))
    with pytest.raises(ValueError, match=r"`source`.*NaN"):
        jax.grad(lambda a: losses.mmd(a, T_, kernel=Gaussian(1.0)))(bad)
    with pytest.raises(ValueError, match=r"`source`.*NaN"):
        jax.jacfwd(lambda a: losses.mmd(a, T_, kernel=Gaussian(1.0)))(bad)
    # under jit the values are unknown: documented NaN propagation
    g = jax.jit(jax.grad(lambda a: losses.mmd(a, T_, kernel=Gaussian(1.0))))(bad)
    assert np.isnan(np.asarray(g)).any()


def test_nested_lists_and_dtype_messages():
    value = losses.mmd(S.tolist(), T_.tolist(), kernel=Gaussian(1.0))
    np.testing.assert_allclose(float(value), float(losses.mmd(S, T_, kernel=Gaussian(1.0))))
    with pytest.raises(TypeError, match=r"`source`.*rectangular"):
        losses.mmd([[1.0, 2.0], [3.0]], T_, kernel=Gaussian(1.0))
    with pytest.raises(TypeError, match=r"`source`.*dtype int64"):
        losses.mmd(np.ones((4, 5), dtype=np.int64), T_, kernel=Gaussian(1.0))


@pytest.mark.parametrize("kernel", [Gaussian(1.0), Linear(), MultiGaussian.dan()])
def test_kernel_input_shapes(kernel):
    with pytest.raises(ValueError, match=r"`x` must be 2-D.*\(5,\)"):
        kernel(np.ones(5), np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"`x` and `y`.*\(4, 5\) and \(3, 2\)"):
        kernel(np.ones((4, 5)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"`x` and `y`.*\(4, 5\) and \(4, 2\)"):
        kernel.pairwise(np.ones((4, 5)), np.ones((4, 2)))


def test_metrics_labels():
    with pytest.raises(ValueError, match=r"`y_true`.*\[0, 8589934592\]"):
        metrics.uar([0, 2**33], [0, 0], num_classes=3)
    with jax.enable_x64(False), pytest.raises(ValueError, match=r"`y_true`.*int32 range"):
        metrics.war(np.array([0, 2**33]), np.array([0, 0]))
    # with 64-bit integers enabled the value is simply right
    assert float(metrics.war(np.array([0, 2**33]), np.array([0, 0]))) == 0.5
    for fn in (metrics.uar, metrics.uf1, metrics.confusion_matrix):
        with pytest.raises(TypeError, match=r"`y_true`.*class names.*np\.unique"):
            fn(np.array(["happy", "sad"]), np.array(["sad", "sad"]), num_classes=2)
    with pytest.raises(TypeError, match=r"`y_true`.*class names"):
        metrics.war(np.array(["a", "b"], dtype=object), np.array([0, 1]))


# ----------------------------------------------------------------------------- validators


def test_shared_validators():
    assert _checks.check_positive_int(3, "n") == 3
    assert _checks.check_positive_int(np.int64(0), "n", allow_zero=True) == 0
    for bad, err in ((0, ValueError), (True, TypeError), (2.0, TypeError), ("3", TypeError)):
        with pytest.raises(err, match="`n` must be a positive int"):
            _checks.check_positive_int(bad, "n")
    with pytest.raises(ValueError):  # the type error is a ValueError too
        _checks.check_positive_int(2.5, "n")
    assert _checks.check_choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"`mode` must be one of \('a', 'b'\), got 'c'"):
        _checks.check_choice("c", "mode", ("a", "b"))
    assert _checks.check_number(0.5, "p", low=0, high=1) == 0.5
    with pytest.raises(ValueError, match=r"`p` must lie in \(0, 1\), got 1"):
        _checks.check_number(1.0, "p", low=0, high=1, low_inclusive=False, high_inclusive=False)
    with pytest.raises(ValueError, match="`p` must be a finite number"):
        _checks.check_number(float("nan"), "p")
    assert _checks.check_number(float("inf"), "p", finite=False) == float("inf")
    assert _checks.check_positive(0.0, "w", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match=r"`w` must be positive \(> 0\), got -1"):
        _checks.check_positive(-1, "w")
    with pytest.raises(TypeError, match="`w` must be a real number"):
        _checks.check_positive("1", "w")


# ----------------------------------------------------------------------------- training


def _data(labels=None, nan=False):
    xs = RNG.standard_normal((24, 4)).astype(np.float32)
    if nan:
        xs[5, 2] = np.nan
    ys = (np.arange(24) % 3).astype(np.int32) if labels is None else labels
    return T.Batch(xs, ys, RNG.standard_normal((20, 4)).astype(np.float32))


def _trainer(data, *, outputs=3, terms=(), lr=0.05):
    return T.make_trainer(
        encoder=T.from_nnx(lambda rngs: nnx.Linear(4, 8, rngs=rngs)),
        classifier=T.from_nnx(lambda rngs: nnx.Linear(8, outputs, rngs=rngs)),
        optimizer=optax.sgd(lr),
        example_batch=data,
        terms=terms,
    )


def test_labels_checked_against_classifier_width():
    data = _data(labels=(np.arange(24) % 4).astype(np.int32))
    with pytest.raises(ValueError, match=r"source_labels.*\[0, 3\].*3 outputs"):
        _trainer(data, outputs=3)
    trainer = _trainer(_data())
    with pytest.raises(ValueError, match=r"`data.source_labels`.*3 outputs"):
        T.train(trainer, data, jax.random.key(0), num_steps=2, batch_size=8)


def test_negative_term_weight_refused():
    with pytest.raises(ValueError, match=r"'mmd'.*>= 0"):
        _trainer(_data(), terms=[T.MMD(weight=-1.0)])


def test_training_arguments_checked_before_training(tmp_path):
    data = _data()
    trainer = _trainer(data)
    with pytest.raises(ValueError, match="`num_steps` must be a non-negative int"):
        T.train(trainer, data, jax.random.key(0), num_steps=-1, batch_size=8)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for bad in (a_file, a_file / "sub"):
        with pytest.raises(ValueError, match="`checkpoint_dir`"):
            T.fit(trainer, data, jax.random.key(0), num_steps=2, batch_size=8,
                  checkpoint_dir=bad)
    with pytest.raises(ValueError, match=r"`data.source_inputs`.*NaN"):
        T.train(trainer, _data(nan=True), jax.random.key(0), num_steps=2, batch_size=8)


def test_divergence_guard_names_the_step(tmp_path):
    data = _data()
    # NaN at step 3, which the build-time schedule check (steps 0, 1, 10, ...) does not see.
    weight = lambda step: jnp.where(step == 3, jnp.nan, 1.0)  # noqa: E731
    trainer = _trainer(data, terms=[T.MMD(weight=weight)])
    key = jax.random.key(0)
    with pytest.raises(T.DivergenceError, match=r"diverged at step 3.*loss=nan") as info:
        T.train(trainer, data, key, num_steps=5, batch_size=8, check_finite=True)
    assert info.value.step == 3 and np.isnan(info.value.values["mmd/weight"])
    assert info.value.values["source_accuracy"] >= 0  # every metric reported
    ckpt = tmp_path / "ckpt"
    with pytest.raises(T.DivergenceError, match="step 3"):
        T.fit(trainer, data, key, num_steps=5, batch_size=8, save_every=2,
              checkpoint_dir=ckpt, check_finite=True)
    assert sorted(int(p) for p in os.listdir(ckpt) if p.isdigit()) == [2]


def test_check_divergence_on_vmapped_metrics():
    loss = np.ones((3, 6))
    loss[2, 4] = np.inf
    acc = np.ones((3, 6))
    acc[1, 5] = np.nan
    with pytest.raises(T.DivergenceError, match=r"step 14 \(run \(2,\).*loss=inf") as info:
        T.check_divergence({"loss": loss, "acc": acc}, first_step=10)
    assert info.value.index == (2,) and info.value.step == 14
    assert T.check_divergence({"loss": np.ones(4), "step_count": np.arange(4)}) is None


# ----------------------------------------------------------------------------- tables


def test_damaged_tables(tmp_path):
    good = tmp_path / "t.npz"
    save_table(good, np.ones((4, 3)), ["a", "b", "a", "b"])
    raw = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(256))
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_table(tmp_path / "cut.npz")
    with pytest.raises(ValueError, match=r"not a .npz archive"):
        load_table(tmp_path / "noise.npz")
    with pytest.raises(ValueError, match="is a directory"):
        load_table(tmp_path)
