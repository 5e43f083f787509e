"""Tests for the ott-jax based losses: Sinkhorn divergence and DeepJDOT."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from ott.geometry import costs, pointcloud
from ott.solvers import linear

from dalib.losses import jdot, jdot_cost, sinkhorn_divergence

TIGHT = {"threshold": 1e-10, "max_iterations": 20000}

# ott's solvers compile per call when run eagerly; jitted wrappers with a stable
# identity (and the same shapes throughout) let the tests share compilations.
DIV = jax.jit(functools.partial(sinkhorn_divergence, **TIGHT), static_argnames=("cost",))
JDOT = jax.jit(functools.partial(jdot, **TIGHT))


@functools.partial(jax.jit, static_argnames=("cost_fn",))
def _reg_ot(p, q, wp, wq, epsilon, cost_fn):
    geom = pointcloud.PointCloud(p, q, cost_fn=cost_fn, epsilon=epsilon)
    return linear.solve(geom, a=wp, b=wq, **TIGHT).reg_ot_cost


def _clouds(seed, n=7, m=5, d=3, shift=0.5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift


def three_solves(x, y, a, b, epsilon, cost_fn):
    """OT(x,y) - OT(x,x)/2 - OT(y,y)/2 from three separate ott `solve` calls."""

    def reg_ot(p, q, wp, wq):
        return float(_reg_ot(p, q, wp, wq, epsilon, cost_fn))

    return reg_ot(x, y, a, b) - 0.5 * reg_ot(x, x, a, a) - 0.5 * reg_ot(y, y, b, b)


# ----------------------------------------------------------------------------- Sinkhorn divergence


@pytest.mark.parametrize(
    ("cost", "cost_fn", "epsilon"),
    [
        ("sqeuclidean", costs.SqEuclidean(), 0.5),
        pytest.param("euclidean", costs.Euclidean(), 0.2, marks=pytest.mark.slow),
    ],
)
def test_sinkhorn_divergence_equals_three_solves(cost, cost_fn, epsilon):
    x, y = _clouds(0)
    got = float(DIV(x, y, epsilon=epsilon, cost=cost))
    a, b = np.full(7, 1 / 7), np.full(5, 1 / 5)
    want = three_solves(x, y, a, b, epsilon, cost_fn)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got > 0


def test_sinkhorn_divergence_weighted_and_default_epsilon():
    x, y = _clouds(1)
    rng = np.random.default_rng(2)
    ws, wt = rng.uniform(0.5, 2.0, 7), rng.uniform(0.5, 2.0, 5)
    got = float(DIV(x, y, source_weights=ws, target_weights=wt))
    # ott's default epsilon: 0.05 * std of the source-target cost, shared by all terms.
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    epsilon = 0.05 * cost.std()
    want = three_solves(x, y, ws / ws.sum(), wt / wt.sum(), epsilon, costs.SqEuclidean())
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # Weights are normalised: scaling them changes nothing.
    scaled = DIV(x, y, source_weights=3 * ws, target_weights=wt / 7)
    np.testing.assert_allclose(scaled, got, rtol=1e-8)


def test_sinkhorn_divergence_zero_symmetric_and_gradients():
    # One shape ([7, 3] both sides) throughout, so the compilations are shared.
    x, y = _clouds(4, m=7)

    def fn(a, b):
        return DIV(a, b, epsilon=0.5)

    assert abs(float(fn(x, x))) < 1e-8
    np.testing.assert_allclose(fn(x, y), fn(y, x), rtol=1e-6)
    # Implicit differentiation (reverse mode) against central differences.
    check_grads(fn, (x, y), order=1, modes=("rev",), atol=1e-6, rtol=1e-5)
    # At identical clouds the gradient vanishes (up to solver accuracy).
    np.testing.assert_allclose(jax.grad(fn)(x, x), 0.0, atol=1e-5)


@pytest.mark.slow
def test_sinkhorn_divergence_eager_equals_jit():
    x, y = _clouds(5)
    np.testing.assert_allclose(
        sinkhorn_divergence(x, y, epsilon=0.5, **TIGHT), DIV(x, y, epsilon=0.5), rtol=1e-10
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.zeros((3, 2)), np.zeros((4, 3))), {}, ValueError, "same feature size"),
        ((np.zeros(3), np.zeros((4, 3))), {}, ValueError, r"`source` must be 2-D"),
        ((np.zeros((0, 2)), np.zeros((4, 2))), {}, ValueError, "empty"),
        ((np.zeros((3, 2)), np.zeros((4, 2))), {"cost": "manhattan"}, ValueError, "cost"),
        ((np.zeros((3, 2)), np.zeros((4, 2))), {"epsilon": 0.0}, ValueError, "epsilon"),
        (
            (np.zeros((3, 2)), np.zeros((4, 2))),
            {"source_weights": np.ones(4)},
            ValueError,
            r"source_weights.*\(4,\).*\(3, 2\)",
        ),
        (
            (np.zeros((3, 2)), np.zeros((4, 2))),
            {"target_weights": -np.ones(4)},
            ValueError,
            "non-negative",
        ),
        ((np.zeros((3, 2), int), np.zeros((4, 2))), {}, TypeError, "floating"),
    ],
)
def test_sinkhorn_divergence_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        sinkhorn_divergence(*args, **kwargs)


# ----------------------------------------------------------------------------- DeepJDOT


def ref_jdot_cost(xs, xt, ys_onehot, logits_t, alpha, lam):
    n, m = len(xs), len(xt)
    c = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            row = logits_t[j] - logits_t[j].max()
            log_q = row - math.log(np.exp(row).sum())
            ce = -sum(ys_onehot[i, k] * log_q[k] for k in range(len(row)))
            c[i, j] = alpha * float(((xs[i] - xt[j]) ** 2).sum()) + lam * ce
    return c


def ref_sinkhorn_plan(cost, epsilon, iterations=20000):
    n, m = cost.shape
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    k = np.exp(-cost / epsilon)
    u, v = np.ones(n), np.ones(m)
    for _ in range(iterations):
        u = a / (k @ v)
        v = b / (k.T @ u)
    return u[:, None] * k * v[None, :]


def _jdot_inputs(seed, n=6, m=4, d=3, c=3):
    rng = np.random.default_rng(seed)
    xs, xt = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    ys = rng.integers(0, c, size=n)
    logits = rng.normal(size=(m, c)) * 2
    return xs, xt, ys, np.eye(c)[ys], logits


def test_jdot_cost_matches_loops():
    xs, xt, ys, onehot, logits = _jdot_inputs(5)
    want = ref_jdot_cost(xs, xt, onehot, logits, 0.3, 2.0)
    np.testing.assert_allclose(jdot_cost(xs, xt, ys, logits, alpha=0.3, lam=2.0), want, rtol=1e-5)
    np.testing.assert_allclose(
        jdot_cost(xs, xt, onehot, logits, alpha=0.3, lam=2.0), want, rtol=1e-5
    )
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(
        jdot_cost(xs, xt, ys, probs, alpha=0.3, lam=2.0, from_logits=False), want, rtol=1e-5
    )
    check_grads(
        jax.jit(lambda a, b, q: jdot_cost(a, b, ys, q, alpha=0.3, lam=2.0)),
        (xs, xt, logits),
        order=1,
    )
    batched = jax.vmap(lambda a, b, q: jdot_cost(a, b, ys, q))(
        np.stack([xs, xs + 1]), np.stack([xt, xt]), np.stack([logits, logits])
    )
    np.testing.assert_allclose(batched[1], ref_jdot_cost(xs + 1, xt, onehot, logits, 1, 1), 1e-5)


@pytest.mark.parametrize(("alpha", "lam", "epsilon"), [(1.0, 1.0, 0.5), (0.1, 2.0, 0.2)])
def test_jdot_matches_numpy_sinkhorn(alpha, lam, epsilon):
    xs, xt, ys, onehot, logits = _jdot_inputs(6)
    cost = ref_jdot_cost(xs, xt, onehot, logits, alpha, lam)
    plan = ref_sinkhorn_plan(cost, epsilon)
    want = float((plan * cost).sum())
    got = JDOT(xs, xt, ys, logits, alpha=alpha, lam=lam, epsilon=epsilon)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_jdot_gradient_is_that_of_the_frozen_plan():
    xs, xt, ys, onehot, logits = _jdot_inputs(7)
    alpha, lam, epsilon = 0.5, 1.0, 0.3
    plan = ref_sinkhorn_plan(ref_jdot_cost(xs, xt, onehot, logits, alpha, lam), epsilon)

    def frozen(a, b, q):
        return float((plan * ref_jdot_cost(a, b, onehot, q, alpha, lam)).sum())

    grads = jax.grad(
        lambda a, b, q: JDOT(a, b, ys, q, alpha=alpha, lam=lam, epsilon=epsilon),
        argnums=(0, 1, 2),
    )(xs, xt, logits)
    # Eager (no jit) gives the jitted value.
    np.testing.assert_allclose(
        jdot(xs, xt, ys, logits, alpha=alpha, lam=lam, epsilon=epsilon, **TIGHT),
        JDOT(xs, xt, ys, logits, alpha=alpha, lam=lam, epsilon=epsilon),
        rtol=1e-10,
    )
    rng = np.random.default_rng(8)
    h = 1e-6
    for _ in range(2):
        vs = [rng.normal(size=v.shape) for v in (xs, xt, logits)]
        plus = frozen(*(p + h * v for p, v in zip((xs, xt, logits), vs, strict=True)))
        minus = frozen(*(p - h * v for p, v in zip((xs, xt, logits), vs, strict=True)))
        directional = sum(float(np.sum(np.asarray(g) * v)) for g, v in zip(grads, vs, strict=True))
        np.testing.assert_allclose(directional, (plus - minus) / (2 * h), rtol=1e-5)


def test_jdot_default_epsilon_and_perfect_match():
    # Targets are the sources, labels agree with confident predictions: the plan
    # matches each point with itself and the loss is close to the label CE only.
    xs = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    ys = np.array([0, 1, 2])
    logits = 20.0 * np.eye(3)
    loss = JDOT(xs, xs, ys, logits)
    ce = -math.log(1 / (1 + 2 * math.exp(-20.0)))
    np.testing.assert_allclose(loss, ce, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((3, 2)), np.zeros((4, 2)), np.zeros(2, int), np.zeros((4, 3))), {}, "source"),
        (
            (np.zeros((3, 2)), np.zeros((4, 2)), np.zeros(3, int), np.zeros((5, 3))),
            {},
            r"target_logits.*target",
        ),
        (
            (np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((3, 2)), np.zeros((4, 3))),
            {},
            "one column per class",
        ),
        (
            (np.zeros((3, 2)), np.zeros((4, 2)), np.array([0, 1, 3]), np.zeros((4, 3))),
            {},
            "num_classes=3",
        ),
        (
            (np.zeros((3, 2)), np.zeros((4, 5)), np.zeros(3, int), np.zeros((4, 3))),
            {},
            "same feature size",
        ),
        (
            (np.zeros((3, 2)), np.zeros((4, 2)), np.zeros(3, int), np.zeros((4, 3))),
            {"epsilon": -1.0},
            "epsilon",
        ),
    ],
)
def test_jdot_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        jdot(*args, **kwargs)


@pytest.mark.slow
def test_ot_losses_accept_float32():
    x, y = _clouds(9)
    x32, y32 = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    got = DIV(x32, y32, epsilon=0.5)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, DIV(x, y, epsilon=0.5), rtol=1e-3)


def test_ot_losses_keep_the_solver_diagnostics():
    x = jax.random.normal(jax.random.key(0), (12, 3))
    y = x + 2.0
    value, diag = sinkhorn_divergence(x, y, epsilon=0.05, return_diagnostics=True)
    assert value == sinkhorn_divergence(x, y, epsilon=0.05)
    assert bool(diag.converged) and diag.iterations.shape == (3,)
    _, starved = sinkhorn_divergence(x, y, epsilon=1e-3, max_iterations=2, return_diagnostics=True)
    assert not bool(starved.converged)
    labels = jnp.arange(12) % 2
    logits = jnp.zeros((12, 2))
    _, d = jdot(x, y, labels, logits, epsilon=1e-3, max_iterations=1,
                       return_diagnostics=True)  # fmt: skip
    assert not bool(d.converged) and d.iterations.shape == (1,)
