"""The pooled fast path of the dense MMD estimates against the plain autodiff path.

``dalib.losses._mmd._USE_POOLED = False`` selects the previous implementation
(three Gram blocks, JAX autodiff), kept as the reference; ``_mmd_pooled._PANEL``
is shrunk so that the row-panel loop (with padding) runs on small inputs.
Float64 throughout (tests/conftest.py).
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.kernels import Gaussian, InverseMultiquadric, Laplacian, MultiGaussian
from dalib.losses import _mmd, _mmd_pooled, jmmd, mmd

RNG = np.random.default_rng(3)
S = RNG.normal(size=(13, 4))
T = RNG.normal(size=(9, 4)) + 0.4
WS = RNG.uniform(0.2, 1.5, size=13)
WT = RNG.uniform(0.2, 1.5, size=9)

KERNELS = {
    "gaussian": Gaussian(bandwidth=1.3),
    "laplacian": Laplacian(bandwidth=0.9),
    "imq": InverseMultiquadric(scale=1.1, power=0.7),
    "dan": MultiGaussian.dan(),
    "dsan": MultiGaussian.dsan(),
    "uneven": MultiGaussian(multipliers=(0.3, 1.0, 2.5), bandwidth="mean"),
}


# 22 pooled rows: one panel; 5 panels of 5 as full rows; the same visiting each
# pair of panels once; 6 panels of 4 by pairs (the opposite panel met from both
# sides); 2 panels of 11.
@pytest.fixture(
    params=[(1000, 3), (5, 99), (5, 3), (4, 3), (11, 3)],
    ids=["one-panel", "rows-of-5", "pairs-of-5", "pairs-of-4", "two"],
)
def panel(request, monkeypatch):
    size, pairs_from = request.param
    monkeypatch.setattr(_mmd_pooled, "_PAIRS_MIN_PANELS", pairs_from)
    yield from _with_panel(size, monkeypatch)


@pytest.fixture
def panels_of_5(monkeypatch):
    # five panels, each pair visited once (the full-row sweep: `panel` above)
    monkeypatch.setattr(_mmd_pooled, "_PAIRS_MIN_PANELS", 3)
    yield from _with_panel(5, monkeypatch)


def _with_panel(size, monkeypatch):
    monkeypatch.setattr(_mmd_pooled, "_PANEL", size)
    _mmd._compute.clear_cache()  # the panel size is read when tracing
    yield size
    _mmd._compute.clear_cache()


def reference(fn, *args, **kwargs):
    """``fn`` evaluated on the previous (autodiff, three-block) path."""
    old = _mmd._USE_POOLED
    _mmd._USE_POOLED = False
    try:
        return fn(*args, **kwargs)
    finally:
        _mmd._USE_POOLED = old


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize(("estimator", "weighted"), [("biased", False), ("unbiased", True)])
def test_value_and_gradient_equal_reference(panels_of_5, name, estimator, weighted):
    kernel = KERNELS[name]
    kw = {"kernel": kernel, "estimator": estimator}
    if weighted:
        kw.update(source_weights=WS, target_weights=WT)

    def loss(s, t):
        return mmd(s, t, **kw)

    value, grads = jax.value_and_grad(loss, argnums=(0, 1))(S, T)
    ref_value, ref_grads = reference(jax.value_and_grad(loss, argnums=(0, 1)), S, T)
    np.testing.assert_allclose(float(value), float(ref_value), rtol=0, atol=1e-12)
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=0, atol=1e-12)
    # the fast path is taken (and the reference is not): different round-off
    assert _mmd_pooled.supports([kernel.resolve(S, T)])


def test_value_matches_numpy_loop_with_panels(panel):
    """Independent reference: weighted unbiased Gaussian MMD written as loops."""

    def k(a, b):
        return math.exp(-float(np.sum((a - b) ** 2)) / (2.0 * 1.3**2))

    p, q = WS / WS.sum(), WT / WT.sum()
    ss = sum(p[i] * p[j] * k(S[i], S[j]) for i in range(13) for j in range(13) if i != j)
    tt = sum(q[i] * q[j] * k(T[i], T[j]) for i in range(9) for j in range(9) if i != j)
    st = sum(p[i] * q[j] * k(S[i], T[j]) for i in range(13) for j in range(9))
    expected = ss / (1 - np.sum(p**2)) + tt / (1 - np.sum(q**2)) - 2 * st
    got = mmd(S, T, kernel=Gaussian(1.3), estimator="unbiased", source_weights=WS,
              target_weights=WT)
    np.testing.assert_allclose(float(got), expected, rtol=1e-12)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_check_grads_both_modes(panels_of_5, estimator):
    """Forward (jvp) and reverse mode against finite differences, data and weights."""

    # a fixed base: a data-driven one carries no gradient, unlike finite differences
    kernel = MultiGaussian(multipliers=(0.25, 0.5, 1.0, 2.0), bandwidth=2.0)

    def loss(s, t, ws):
        return mmd(s, t, kernel=kernel, estimator=estimator, source_weights=ws)

    check_grads(loss, (S, T, WS), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_check_grads_learned_bandwidth_and_second_order():
    def loss(bandwidth, s):
        return mmd(s, T, kernel=Gaussian(bandwidth=bandwidth), estimator="unbiased")

    check_grads(loss, (1.2, S), order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)
    g = jax.grad(loss)(1.2, S)
    ref = reference(jax.grad(loss), 1.2, S)
    np.testing.assert_allclose(float(g), float(ref), rtol=0, atol=1e-12)


def test_jit_equals_eager_and_vmap(panel):
    def loss(s, t):
        return mmd(s, t, kernel=MultiGaussian.dan())

    eager = jax.value_and_grad(loss)(S, T)
    jitted = jax.jit(jax.value_and_grad(loss))(S, T)
    np.testing.assert_allclose(float(eager[0]), float(jitted[0]), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(eager[1]), np.asarray(jitted[1]), rtol=0, atol=1e-13)
    batch = jnp.stack([S, S + 1.0, 2.0 * S])
    mapped = jax.vmap(lambda s: loss(s, T))(batch)
    for i in range(3):
        np.testing.assert_allclose(float(mapped[i]), float(loss(batch[i], T)), rtol=1e-12)


def test_jmmd_equals_reference(panel):
    fs, ft = S[:, :3], T[:, :3]
    ps, pt = S[:, 3:], T[:, 3:]
    kernels = (MultiGaussian.dan(), Gaussian(bandwidth=0.92))

    def loss(a, b):
        return jmmd((a, ps), (b, pt), kernels=kernels, estimator="unbiased")

    got = jax.value_and_grad(loss, argnums=(0, 1))(fs, ft)
    ref = reference(jax.value_and_grad(loss, argnums=(0, 1)), fs, ft)
    np.testing.assert_allclose(float(got[0]), float(ref[0]), rtol=0, atol=1e-12)
    for g, r in zip(got[1], ref[1], strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=0, atol=1e-12)


def test_identical_sets_give_zero_and_finite_gradient(panel):
    value, grad = jax.value_and_grad(lambda s: mmd(s, S, kernel=Laplacian(0.8)))(S)
    assert abs(float(value)) < 1e-14
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize("multipliers", [(0.125, 0.25, 0.5, 1.0, 2.0), (4.0, 1.0, 2.0)])
def test_squaring_ladder_equals_separate_exponentials(multipliers):
    """One exp plus squarings equals one exp per multiplier (float64 and float32)."""
    d2 = np.linspace(0.0, 40.0, 2001)
    kernel = MultiGaussian(multipliers=multipliers, bandwidth=1.7)
    direct = sum(np.exp(-d2 / (2.0 * m * 1.7)) for m in multipliers)
    np.testing.assert_allclose(np.asarray(kernel.from_sq_dists(jnp.asarray(d2))), direct,
                               rtol=1e-14, atol=0)
    got32 = np.asarray(kernel.from_sq_dists(jnp.asarray(d2, dtype=jnp.float32)))
    assert got32.dtype == np.float32
    # at most ~2^(K-1) ulp per squared term; measured max relative 1.2e-6 for DAN
    np.testing.assert_allclose(got32, direct, rtol=4e-6, atol=1e-30)


def test_non_ladder_multipliers_take_one_exp_each():
    kernel = MultiGaussian(multipliers=(0.5, 1.5), bandwidth=1.0)
    d2 = jnp.asarray([0.0, 1.0, 9.0])
    expected = sum(np.exp(-np.asarray(d2) / (2.0 * m)) for m in (0.5, 1.5))
    np.testing.assert_allclose(np.asarray(kernel.from_sq_dists(d2)), expected, rtol=1e-15)


def test_unsupported_kernels_use_the_reference_path():
    class Cubic:  # a duck-typed kernel is not a built-in distance kernel
        pass

    assert not _mmd_pooled.supports([Cubic()])
    assert not _mmd_pooled.supports([MultiGaussian.dan()])  # unresolved rule
    assert _mmd_pooled.supports([Gaussian(1.0), MultiGaussian(bandwidth=2.0)])


def test_panel_padding_covers_every_pair(monkeypatch):
    """Every panel size, including ones that do not divide N, gives the same value."""
    values = []
    for size in (1, 2, 7, 22, 64):
        monkeypatch.setattr(_mmd_pooled, "_PANEL", size)
        _mmd._compute.clear_cache()
        values.append(float(mmd(S, T, kernel=Gaussian(1.0), estimator="unbiased")))
    _mmd._compute.clear_cache()
    for a, b in itertools.pairwise(values):
        assert abs(a - b) < 1e-14
