"""Tests of implicit distribution alignment (sample reconstruction) against NumPy/scikit-learn."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from sklearn.linear_model import Lasso, Ridge

from dalib.losses import _ida, ida

RTOL = 1e-5


def jida(source, target, **kwargs):
    """``ida`` under ``jit`` (one compilation is cheaper than op-by-op dispatch)."""
    return jax.jit(functools.partial(ida, **kwargs))(source, target)


def _sets(seed, n=5, m=7, d=8):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, d))
    xt = rng.normal(size=(m, d)) + 0.3
    return xs, xt


def ridge_reference(basis, x, reg):
    """Mean squared residual, one target row at a time with numpy.linalg.solve."""
    k, d = basis.shape
    gram = basis @ basis.T + reg * np.eye(k)
    total = 0.0
    for j in range(x.shape[0]):
        w = np.linalg.solve(gram, basis @ x[j])
        r = x[j] - basis.T @ w
        total += np.sum(r**2)
    return total / (x.shape[0] * d)


def ista_reference(basis, x, reg, steps, lip):
    """Plain ISTA loop, column by column, step 1/lip."""
    k = basis.shape[0]
    w = np.zeros((k, x.shape[0]))
    for j in range(x.shape[0]):
        wj = np.zeros(k)
        for _ in range(steps):
            z = wj - (basis @ (basis.T @ wj) - basis @ x[j]) / lip
            wj = np.sign(z) * np.maximum(np.abs(z) - reg / lip, 0.0)
        w[:, j] = wj
    return w


def lasso_reference(basis, x, reg, steps):
    lip = np.linalg.eigvalsh(basis @ basis.T)[-1]
    w = ista_reference(basis, x, reg, steps, lip)
    r = x - w.T @ basis
    return np.mean(r**2)


def classwise_reference(basis, basis_labels, x, x_labels, reg):
    d = basis.shape[1]
    total, count = 0.0, 0
    for j in range(x.shape[0]):
        members = basis[basis_labels == x_labels[j]]
        if len(members) == 0:
            continue
        gram = members @ members.T + reg * np.eye(len(members))
        w = np.linalg.solve(gram, members @ x[j])
        total += np.sum((x[j] - members.T @ w) ** 2)
        count += 1
    return total / (max(count, 1) * d)


@pytest.mark.parametrize(("n", "d"), [(5, 8), (9, 4)], ids=["n<d", "n>d"])
@pytest.mark.parametrize("direction", ["target_from_source", "source_from_target", "both"])
def test_ridge_matches_numpy(n, d, direction):
    xs, xt = _sets(0, n=n, m=7, d=d)
    reg = 0.7
    forward = ridge_reference(xs, xt, reg)
    backward = ridge_reference(xt, xs, reg)
    expected = {
        "target_from_source": forward,
        "source_from_target": backward,
        "both": 0.5 * (forward + backward),
    }[direction]
    got = float(jida(xs, xt, reg=reg, direction=direction))
    np.testing.assert_allclose(got, expected, rtol=RTOL)


def test_ridge_coefficients_match_sklearn():
    xs, xt = _sets(1)
    reg = 0.3
    w = np.asarray(_ida.ridge_coefficients(jnp.asarray(xs), jnp.asarray(xt), reg))
    # Each target row is a regression of its d entries on the n source rows.
    model = Ridge(alpha=reg, fit_intercept=False, solver="cholesky").fit(xs.T, xt.T)
    np.testing.assert_allclose(w.T, model.coef_, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(("n", "d"), [(5, 8), (9, 4)], ids=["n<d", "n>d"])
def test_push_through_forms_agree(n, d):
    xs, xt = _sets(2, n=n, d=d)
    basis, x = jnp.asarray(xs), jnp.asarray(xt)
    via_codes = jax.jit(lambda b, y: y - _ida.ridge_coefficients(b, y, 0.5).T @ b)(basis, x)
    residual = jax.jit(_ida.ridge_residual)(basis, x, 0.5)
    np.testing.assert_allclose(residual, via_codes, atol=1e-10)


@pytest.mark.parametrize("direction", ["target_from_source", "both"])
def test_lasso_matches_numpy_ista(direction):
    xs, xt = _sets(3)
    reg, steps = 0.4, 30
    forward = lasso_reference(xs, xt, reg, steps)
    expected = forward
    if direction == "both":
        expected = 0.5 * (forward + lasso_reference(xt, xs, reg, steps))
    got = float(jida(xs, xt, method="lasso", reg=reg, num_steps=steps, direction=direction))
    np.testing.assert_allclose(got, expected, rtol=RTOL)


def test_lasso_codes_reach_sklearn_objective():
    xs, xt = _sets(4, n=6, m=3, d=10)
    reg, steps = 2.0, 3000
    lip = _ida.lipschitz(jnp.asarray(xs))
    w = np.asarray(_ida.lasso_coefficients(jnp.asarray(xs), jnp.asarray(xt), reg, steps, lip))
    d = xs.shape[1]

    def objective(wj, j):
        return 0.5 * np.sum((xt[j] - xs.T @ wj) ** 2) + reg * np.sum(np.abs(wj))

    for j in range(xt.shape[0]):
        # scikit-learn scales the squared error by 1/(2 * n_samples), here n_samples = d.
        model = Lasso(alpha=reg / d, fit_intercept=False, tol=1e-12, max_iter=100_000)
        ref = model.fit(xs.T, xt[j]).coef_
        assert objective(w[:, j], j) <= objective(ref, j) * (1 + 1e-6)
        np.testing.assert_allclose(w[:, j], ref, atol=1e-4)
    assert np.any(w == 0.0)  # the l1 penalty really makes codes sparse


@pytest.mark.parametrize("direction", ["target_from_source", "source_from_target", "both"])
def test_classwise_ridge_matches_loop(direction):
    rng = np.random.default_rng(5)
    xs, xt = _sets(5, n=9, m=8, d=6)
    ys = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1])
    # Pseudo-class 3 has no source row: those targets are left out.
    yt = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    probs = np.eye(4)[yt] * 0.6 + rng.uniform(0, 0.1, size=(8, 4))
    reg = 0.2
    forward = classwise_reference(xs, ys, xt, yt, reg)
    backward = classwise_reference(xt, yt, xs, ys, reg)
    expected = {
        "target_from_source": forward,
        "source_from_target": backward,
        "both": 0.5 * (forward + backward),
    }[direction]
    got = jida(xs, xt, reg=reg, source_labels=ys, target_probs=probs, direction=direction)
    np.testing.assert_allclose(float(got), expected, rtol=RTOL)


def test_classwise_lasso_matches_loop():
    xs, xt = _sets(6, n=8, m=6, d=7)
    ys = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    yt = np.array([1, 1, 0, 0, 1, 0])
    reg, steps = 0.3, 25
    lip = np.linalg.eigvalsh(xs @ xs.T)[-1]  # one step size from the full source
    total = 0.0
    for j in range(len(xt)):
        members = xs[ys == yt[j]]
        w = ista_reference(members, xt[j : j + 1], reg, steps, lip)[:, 0]
        total += np.sum((xt[j] - members.T @ w) ** 2)
    expected = total / xt.size
    got = jida(
        xs, xt, method="lasso", reg=reg, num_steps=steps, source_labels=ys,
        target_probs=np.eye(2)[yt],
    )  # fmt: skip
    np.testing.assert_allclose(float(got), expected, rtol=RTOL)


def test_classwise_without_any_usable_class_is_zero():
    xs, xt = _sets(7)
    got = jida(xs, xt, source_labels=np.zeros(5, np.int32), target_probs=np.eye(2)[np.ones(7, int)])
    assert float(got) == 0.0


@pytest.mark.parametrize("method", ["ridge", "lasso"])
def test_zero_when_targets_are_source_rows(method):
    xs, _ = _sets(8, n=4, d=9)
    got = float(jida(xs, xs[[0, 2, 3]], method=method, reg=1e-8, num_steps=2000))
    assert got == pytest.approx(0.0, abs=1e-6)
    # A target off the span of the source rows keeps a residual.
    assert float(jida(xs, xs[[0, 2, 3]] + 1.0, method=method, reg=1e-8, num_steps=50)) > 0.1


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"direction": "both"},
        {"reg": 0.5},  # n > d below: the d x d form
        {"method": "lasso", "num_steps": 15, "reg": 0.2},
        {"source_labels": np.array([0, 1, 0, 1, 1]), "target_probs": np.eye(2)[[0, 1, 1, 0]]},
    ],
    ids=["ridge", "both", "ridge-dxd", "lasso", "classwise"],
)
def test_gradients(kwargs):
    d = 3 if kwargs.get("reg") == 0.5 else 6
    xs, xt = _sets(9, n=5, m=4, d=d)

    @jax.jit
    def fn(s, t):
        return ida(s, t, **kwargs)

    check_grads(fn, (jnp.asarray(xs), jnp.asarray(xt)), order=1, modes=("rev",))
    g = jax.grad(fn, argnums=(0, 1))(jnp.asarray(xs), jnp.asarray(xs[:4]))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in g)


def test_gradient_finite_with_repeated_top_eigenvalue():
    # Orthonormal source rows: every eigenvalue of Xs Xsᵀ is 1 (the lasso step size).
    xs = jnp.eye(3, 5)
    g = jax.jit(jax.grad(lambda s: ida(s, s + 0.1, method="lasso", reg=0.1, num_steps=5)))(xs)
    assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("method", ["ridge", "lasso"])
def test_jit_and_vmap(method):
    rng = np.random.default_rng(10)
    s = rng.normal(size=(3, 4, 6))
    t = rng.normal(size=(3, 5, 6))

    def fn(a, b):
        return ida(a, b, method=method, num_steps=10)

    batched = jax.jit(jax.vmap(fn))(s, t)
    looped = np.array([float(fn(s[b], t[b])) for b in range(3)])
    np.testing.assert_allclose(batched, looped, rtol=1e-10)
    np.testing.assert_allclose(jax.jit(fn)(s[0], t[0]), looped[0], rtol=1e-10)


def test_traced_reg():
    xs, xt = _sets(11)
    got = jax.jit(lambda r: ida(xs, xt, reg=r))(0.7)
    np.testing.assert_allclose(got, ridge_reference(xs, xt, 0.7), rtol=RTOL)


def test_bad_inputs():
    xs, xt = _sets(12)
    with pytest.raises(ValueError, match=r"`target` must be 2-D.*\(8,\)"):
        ida(xs, xt[0])
    with pytest.raises(ValueError, match=r"same feature size.*\(5, 8\).*\(7, 3\)"):
        ida(xs, xt[:, :3])
    with pytest.raises(ValueError, match="`source` is empty"):
        ida(xs[:0], xt)
    with pytest.raises(TypeError, match="`target` must hold floating-point"):
        ida(xs, np.ones((3, 8), np.int64))
    bad = xs.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"`source`.*NaN or infinite"):
        ida(bad, xt)
    with pytest.raises(ValueError, match="unknown IDA method"):
        ida(xs, xt, method="omp")
    with pytest.raises(ValueError, match="unknown IDA direction"):
        ida(xs, xt, direction="sideways")
    with pytest.raises(ValueError, match="`reg` must be positive for ridge"):
        ida(xs, xt, reg=0.0)
    with pytest.raises(ValueError, match="`reg` must be non-negative for lasso"):
        ida(xs, xt, method="lasso", reg=-1.0)
    with pytest.raises(ValueError, match="`num_steps` must be >= 1"):
        ida(xs, xt, method="lasso", num_steps=0)


def test_bad_class_inputs():
    xs, xt = _sets(13)
    ys = np.array([0, 1, 0, 1, 1])
    probs = np.eye(2)[[0, 1, 1, 0, 1, 0, 1]]
    with pytest.raises(ValueError, match="needs both `source_labels` and `target_probs`"):
        ida(xs, xt, source_labels=ys)
    with pytest.raises(ValueError, match=r"`target_probs` and `target`.*\(6, 2\).*\(7, 8\)"):
        ida(xs, xt, source_labels=ys, target_probs=probs[:6])
    with pytest.raises(ValueError, match=r"`source_labels` and `source`.*\(4,\).*\(5, 8\)"):
        ida(xs, xt, source_labels=ys[:4], target_probs=probs)
    with pytest.raises(ValueError, match=r"`source_labels` holds class indices in \[0, 2\]"):
        ida(xs, xt, source_labels=np.array([0, 1, 2, 1, 0]), target_probs=probs)
    with pytest.raises(TypeError, match="`source_labels` must hold integer"):
        ida(xs, xt, source_labels=ys.astype(float), target_probs=probs)
