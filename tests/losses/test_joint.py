"""Tests of joint (marginal + conditional) alignment and its A-distance balance factor."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.kernels import Gaussian, MultiGaussian
from dalib.losses import dynamic_factor, joint_alignment
from dalib.losses._mmd import mmd
from dalib.losses._mmd_joint import lmmd

KERNEL = Gaussian(bandwidth=1.5)


def _problem(seed, n=9, m=7, d=3, c=3):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, d))
    xt = rng.normal(size=(m, d)) + 0.5
    ys = rng.integers(0, c, size=n).astype(np.int32)
    pt = rng.dirichlet(np.ones(c), size=m)
    return xs, xt, ys, pt


@pytest.mark.parametrize("factor", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("kernel", [KERNEL, MultiGaussian.dsan()], ids=["gauss", "dsan"])
def test_joint_is_the_convex_combination(factor, kernel):
    xs, xt, ys, pt = _problem(0)
    got = float(joint_alignment(xs, xt, ys, pt, num_classes=3, kernel=kernel, factor=factor))
    marginal = float(mmd(xs, xt, kernel=kernel))
    conditional = float(lmmd(xs, xt, ys, pt, num_classes=3, kernel=kernel))
    np.testing.assert_allclose(got, (1 - factor) * marginal + factor * conditional, rtol=1e-12)


def test_joint_estimator_is_passed_on():
    xs, xt, ys, pt = _problem(1)
    got = joint_alignment(
        xs, xt, ys, pt, num_classes=3, kernel=KERNEL, factor=0.25, estimator="unbiased"
    )
    marginal = mmd(xs, xt, kernel=KERNEL, estimator="unbiased")
    conditional = lmmd(xs, xt, ys, pt, num_classes=3, kernel=KERNEL)
    np.testing.assert_allclose(got, 0.75 * marginal + 0.25 * conditional, rtol=1e-12)


def test_joint_gradients_jit_vmap_and_traced_factor():
    xs, xt, ys, pt = _problem(2, n=5, m=4)

    @jax.jit
    def fn(s, t, mu):
        return joint_alignment(s, t, ys, pt, num_classes=3, kernel=KERNEL, factor=mu)

    def loss(s, t):
        return fn(s, t, 0.4)

    check_grads(loss, (jnp.asarray(xs), jnp.asarray(xt)), order=1, modes=("rev",))
    g = jax.grad(loss)(jnp.asarray(xs), jnp.asarray(xs[:4]))
    assert np.all(np.isfinite(np.asarray(g)))
    eager = joint_alignment(xs, xt, ys, pt, num_classes=3, kernel=KERNEL, factor=0.4)
    np.testing.assert_allclose(loss(xs, xt), eager, rtol=1e-12)  # traced factor, jit == eager

    rng = np.random.default_rng(3)
    s_b = rng.normal(size=(2, 5, 3))
    t_b = rng.normal(size=(2, 4, 3))
    batched = jax.vmap(fn, in_axes=(0, 0, None))(s_b, t_b, 0.4)
    np.testing.assert_allclose(batched, [loss(s_b[0], t_b[0]), loss(s_b[1], t_b[1])], rtol=1e-10)


def test_joint_bad_inputs():
    xs, xt, ys, pt = _problem(4)
    kw = {"num_classes": 3, "kernel": KERNEL}
    with pytest.raises(ValueError, match=r"`factor` must lie in \[0, 1\]"):
        joint_alignment(xs, xt, ys, pt, factor=1.5, **kw)
    with pytest.raises(ValueError, match="`factor` must be 0-D"):
        joint_alignment(xs, xt, ys, pt, factor=np.array([0.5, 0.5]), **kw)
    with pytest.raises(ValueError, match=r"`target_probs` and `target`.*\(6, 3\).*\(7, 3\)"):
        joint_alignment(xs, xt, ys, pt[:6], factor=0.5, **kw)
    with pytest.raises(ValueError, match=r"`source_labels` and `source`"):
        joint_alignment(xs, xt, ys[:5], pt, factor=0.5, **kw)
    with pytest.raises(ValueError, match=r"same feature size"):
        joint_alignment(xs, xt[:, :2], ys, pt, factor=0.5, **kw)


# ----------------------------------------------------------------------------- dynamic factor


def _two_class_domains(seed, *, source_rate, target_rate, swap_pseudo=False, n=80):
    """Class c sits at x0 = 4c; rate = share of class 1. Pseudo-labels are the true ones
    (or swapped)."""
    rng = np.random.default_rng(seed)
    ys = (rng.random(n) < source_rate).astype(np.int32)
    yt = (rng.random(n) < target_rate).astype(np.int32)
    xs = rng.normal(size=(n, 2))
    xs[:, 0] += 4.0 * ys
    xt = rng.normal(size=(n, 2))
    xt[:, 0] += 4.0 * yt
    pseudo = 1 - yt if swap_pseudo else yt
    return xs, xt, ys, np.eye(2)[pseudo] * 0.8 + 0.1


factor_jit = jax.jit(dynamic_factor, static_argnames=("num_classes", "min_samples"))


def _mean_factor(problem, seeds=(0, 1, 2)):
    return np.mean(
        [float(factor_jit(*problem, num_classes=2, key=jax.random.key(s))) for s in seeds]
    )


def test_dynamic_factor_small_when_only_marginals_differ():
    # Label shift: the domains differ globally, but each class looks the same in both.
    mu = _mean_factor(_two_class_domains(0, source_rate=0.2, target_rate=0.8))
    assert 0.0 <= mu < 0.3


def test_dynamic_factor_large_when_only_conditionals_differ():
    # Same marginal, but the pseudo-labels of the target are swapped.
    mu = _mean_factor(_two_class_domains(1, source_rate=0.5, target_rate=0.5, swap_pseudo=True))
    assert 0.8 < mu <= 1.0


def test_dynamic_factor_matches_its_definition():
    from dalib.stats._a_distance import _proxy_a_distance

    xs, xt, ys, pt = _two_class_domains(2, source_rate=0.3, target_rate=0.6)
    key = jax.random.key(5)
    mu = float(factor_jit(xs, xt, ys, pt, num_classes=2, key=key))
    key_global, key_class = jax.random.split(key)
    distance = jax.jit(lambda ms, mt, k: _proxy_a_distance(xs, xt, ms, mt, k, 0.5, 1e-3)[0])
    d_m = float(distance(np.ones(80, bool), np.ones(80, bool), key_global))
    keys = jax.random.split(key_class, 2)
    yt = pt.argmax(1)
    d_c = [float(distance(ys == c, yt == c, keys[c])) for c in range(2)]
    expected = np.mean(d_c) / (np.mean(d_c) + d_m)
    assert 0.0 < expected < 1.0
    assert mu == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_dynamic_factor_eager_equals_jit():
    # Eager mode dispatches every primitive of the vmapped per-class fits: slow.
    xs, xt, ys, pt = _two_class_domains(2, source_rate=0.3, target_rate=0.6)
    key = jax.random.key(5)
    eager = dynamic_factor(xs, xt, ys, pt, num_classes=2, key=key)
    jitted = factor_jit(xs, xt, ys, pt, num_classes=2, key=key)
    assert float(eager) == pytest.approx(float(jitted), abs=1e-12)


def test_dynamic_factor_fallbacks_and_range():
    xs, xt, ys, pt = _two_class_domains(3, source_rate=0.5, target_rate=0.5)
    # No class has min_samples rows on both sides: marginal alignment only.
    key = jax.random.key(0)
    only_0 = np.zeros(80, np.int32)
    assert float(factor_jit(xs, xt, only_0 + 1, np.eye(2)[only_0], num_classes=2, key=key)) == 0.0
    # Random problems (random pseudo-labels) stay in [0, 1].
    rng = np.random.default_rng(4)
    for seed in range(3):
        xs, xt, ys, _ = _two_class_domains(seed, source_rate=0.3, target_rate=0.7)
        pt = rng.dirichlet(np.ones(2), size=80)
        mu = float(factor_jit(xs, xt, ys, pt, num_classes=2, key=jax.random.key(seed)))
        assert 0.0 <= mu <= 1.0
    # Constant features: no classifier beats chance, every distance is 0, so mu = 0.5.
    flat = np.zeros((80, 2))
    labels = np.repeat([0, 1], 40).astype(np.int32)
    mu = factor_jit(flat, flat, labels, np.eye(2)[labels], num_classes=2, key=key)
    assert float(mu) == 0.5


def test_dynamic_factor_has_no_gradient():
    xs, xt, ys, pt = _two_class_domains(5, source_rate=0.4, target_rate=0.6)
    key = jax.random.key(1)
    g = jax.jit(jax.grad(lambda a: dynamic_factor(a, xt, ys, pt, num_classes=2, key=key)))(xs)
    assert np.all(np.asarray(g) == 0.0)


def test_dynamic_factor_bad_inputs():
    xs, xt, ys, pt = _problem(6, c=2)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"`target_probs` must have num_classes=3 columns"):
        dynamic_factor(xs, xt, ys, pt, num_classes=3, key=key)
    with pytest.raises(ValueError, match=r"`target_probs` and `target`.*\(5, 2\).*\(7, 3\)"):
        dynamic_factor(xs, xt, ys, pt[:5], num_classes=2, key=key)
    with pytest.raises(ValueError, match=r"`source_labels` and `source`"):
        dynamic_factor(xs, xt, ys[:4], pt, num_classes=2, key=key)
    with pytest.raises(ValueError, match="`reg` must be positive"):
        dynamic_factor(xs, xt, ys, pt, num_classes=2, key=key, reg=-1.0)
    with pytest.raises(ValueError, match="`min_samples` must be >= 2"):
        dynamic_factor(xs, xt, ys, pt, num_classes=2, key=key, min_samples=1)
    with pytest.raises(ValueError, match=r"`target` has 1 samples"):
        dynamic_factor(xs, xt[:1], ys, pt[:1], num_classes=2, key=key)
    with pytest.raises(TypeError, match="`source` must hold floating-point"):
        dynamic_factor(ys[:, None], xt[:, :1], ys, pt, num_classes=2, key=key)
