"""Tests of CORAL and CMD against plain NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.losses import cmd, coral

RTOL = 1e-5


def _sets(seed, n=9, m=6, d=4, shift=0.5):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, d))
    xt = rng.normal(size=(m, d)) * 1.5 + shift
    return xs, xt


def coral_reference(xs, xt, variant):
    cs = np.cov(xs, rowvar=False)  # unbiased (n - 1)
    ct = np.cov(xt, rowvar=False)
    d = xs.shape[1]
    total = 0.0
    for i in range(d):
        for j in range(d):
            total += (cs[i, j] - ct[i, j]) ** 2
    if variant == "deep_coral":
        return total / (4 * d * d)
    mean_term = 0.0
    for k in range(d):
        mean_term += (xs[:, k].mean() - xt[:, k].mean()) ** 2
    return mean_term / d + total / (d * d)


def cmd_reference(xs, xt, moments, a, b):
    span = abs(b - a)

    def moment(x, k):
        n, d = x.shape
        mean = [sum(x[i, j] for i in range(n)) / n for j in range(d)]
        if k == 1:
            return np.array(mean)
        return np.array([sum((x[i, j] - mean[j]) ** k for i in range(n)) / n for j in range(d)])

    total = 0.0
    for k in range(1, moments + 1):
        diff = moment(xs, k) - moment(xt, k)
        total += np.sqrt(np.sum(diff**2)) / span**k
    return total


@pytest.mark.parametrize("variant", ["deep_coral", "mean_cov"])
@pytest.mark.parametrize("seed", [0, 1])
def test_coral_matches_numpy(variant, seed):
    xs, xt = _sets(seed)
    got = float(coral(xs, xt, variant=variant))
    np.testing.assert_allclose(got, coral_reference(xs, xt, variant), rtol=RTOL)


@pytest.mark.parametrize(("moments", "bounds"), [(5, (0.0, 1.0)), (3, (-2.0, 3.0)), (1, (0, 2))])
def test_cmd_matches_numpy(moments, bounds):
    xs, xt = _sets(3)
    got = float(cmd(xs, xt, moments=moments, bounds=bounds))
    np.testing.assert_allclose(got, cmd_reference(xs, xt, moments, *bounds), rtol=RTOL)


@pytest.mark.parametrize("variant", ["deep_coral", "mean_cov"])
def test_coral_properties(variant):
    xs, xt = _sets(4)
    assert float(coral(xs, xs, variant=variant)) == pytest.approx(0.0, abs=1e-14)
    np.testing.assert_allclose(
        coral(xs, xt, variant=variant), coral(xt, xs, variant=variant), rtol=1e-12
    )
    assert float(coral(xs, xt, variant=variant)) > 0.0
    # Shuffling rows changes nothing.
    perm = np.random.default_rng(0).permutation(len(xt))
    np.testing.assert_allclose(
        coral(xs, xt[perm], variant=variant), coral(xs, xt, variant=variant), rtol=1e-12
    )


def test_deep_coral_closed_forms():
    xs, _ = _sets(5)
    # A translation leaves covariances alone; scaling by a multiplies them by a².
    assert float(coral(xs, xs + 3.0)) == pytest.approx(0.0, abs=1e-12)
    d = xs.shape[1]
    cs = np.cov(xs, rowvar=False)
    expected = np.sum((3.0 * cs) ** 2) / (4 * d * d)  # (4 C - C)
    np.testing.assert_allclose(coral(xs, 2.0 * xs), expected, rtol=1e-10)


def test_cmd_properties():
    xs, xt = _sets(6)
    assert float(cmd(xs, xs)) == 0.0
    np.testing.assert_allclose(cmd(xs, xt), cmd(xt, xs), rtol=1e-12)
    # A pure translation only moves the first moment.
    delta = np.array([0.3, -0.4, 0.0, 1.2])
    np.testing.assert_allclose(
        cmd(xs, xs + delta, bounds=(0.0, 2.0)), np.linalg.norm(delta) / 2.0, rtol=1e-10
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda s, t: coral(s, t),
        lambda s, t: coral(s, t, variant="mean_cov"),
        lambda s, t: cmd(s, t, moments=4),
    ],
    ids=["deep_coral", "mean_cov", "cmd"],
)
def test_gradients(fn):
    xs, xt = _sets(7, n=5, m=4, d=3)
    fn = jax.jit(fn)
    check_grads(fn, (jnp.asarray(xs), jnp.asarray(xt)), order=1, modes=("fwd", "rev"))
    # Identical sets: a finite (zero) gradient, no NaN from the norm or the covariance.
    g = jax.grad(fn)(jnp.asarray(xs), jnp.asarray(xs))
    assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize(
    "fn", [coral, lambda s, t: coral(s, t, variant="mean_cov"), cmd], ids=["dc", "mc", "cmd"]
)
def test_jit_and_vmap(fn):
    rng = np.random.default_rng(8)
    s = rng.normal(size=(3, 7, 4))
    t = rng.normal(size=(3, 5, 4)) + 1.0
    batched = jax.jit(jax.vmap(fn))(s, t)
    looped = np.array([float(fn(s[b], t[b])) for b in range(3)])
    np.testing.assert_allclose(batched, looped, rtol=1e-10)
    np.testing.assert_allclose(jax.jit(fn)(s[0], t[0]), looped[0], rtol=1e-10)


def test_float32_input_stays_float32():
    xs, xt = _sets(9)
    out = coral(xs.astype(np.float32), xt.astype(np.float32))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, coral_reference(xs, xt, "deep_coral"), rtol=1e-4)


@pytest.mark.parametrize("fn", [coral, cmd])
def test_bad_inputs(fn):
    xs, xt = _sets(10)
    with pytest.raises(ValueError, match=r"`source` must be 2-D.*\(9,\)"):
        fn(xs[:, 0], xt)
    with pytest.raises(ValueError, match=r"same feature size.*\(9, 4\).*\(6, 3\)"):
        fn(xs, xt[:, :3])
    with pytest.raises(ValueError, match="`target` is empty"):
        fn(xs, xt[:0])
    with pytest.raises(TypeError, match="`source` must hold floating-point"):
        fn(np.ones((3, 4), dtype=np.int32), xt)
    bad = xt.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"`target`.*NaN"):
        fn(xs, bad)


def test_coral_needs_two_samples_and_a_known_variant():
    xs, xt = _sets(11)
    with pytest.raises(ValueError, match=r"`target` has 1 samples.*unbiased covariance"):
        coral(xs, xt[:1])
    with pytest.raises(ValueError, match="unknown CORAL variant"):
        coral(xs, xt, variant="coral")


def test_cmd_bad_options():
    xs, xt = _sets(12)
    with pytest.raises(ValueError, match="`moments` must be >= 1"):
        cmd(xs, xt, moments=0)
    with pytest.raises(TypeError, match="`moments` must be an integer"):
        cmd(xs, xt, moments=2.5)
    with pytest.raises(ValueError, match="`bounds` must be two different"):
        cmd(xs, xt, bounds=(1.0, 1.0))
