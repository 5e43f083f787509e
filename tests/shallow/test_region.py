"""TGSR and RSTR: objectives against loops, solvers against closed forms and optimality
conditions, recovery of known regions, bad input and registration."""

import numpy as np
import pytest

from dalib.shallow import (
    RSTR,
    SHALLOW_METHODS,
    TGSR,
    make_shallow,
    rstr,
    rstr_objective,
    standardize,
    tgsr,
    tgsr_objective,
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # Tiny matrices: multi-threaded OpenBLAS only spins on a shared machine (as in the runner).
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1):
        yield


def _regions_problem(
    seed,
    *,
    num_regions=8,
    size=4,
    n=90,
    m=90,
    signal=(0, 1),
    shifted=(2, 3),
    s_signal=0.8,
    s_shifted=0.8,
    shift=2.0,
):
    """Three classes. ``signal`` regions carry random class means in both domains. In
    each ``shifted`` region the classes sit at ``-1, 0, +1`` times ``s_shifted`` along
    one direction ``v_r``, and the target moves by ``shift`` along that same direction
    (the features that discriminate there are the ones that moved between the
    databases). The other regions are noise."""
    rng = np.random.default_rng(seed)
    d = num_regions * size
    groups = np.repeat(np.arange(num_regions), size)
    means = rng.normal(size=(3, d))
    for r in range(num_regions):
        if r in shifted:
            v = rng.normal(size=size)
            means[:, groups == r] = s_shifted * np.outer([-1.0, 0.0, 1.0], v / np.linalg.norm(v))
        elif r in signal:
            means[:, groups == r] *= s_signal
        else:
            means[:, groups == r] = 0.0
    offset = np.zeros(d)
    for r in shifted:
        offset[groups == r] = shift * means[2, groups == r] / s_shifted

    def domain(k, moved):
        y = np.arange(k) % 3
        x = rng.normal(size=(k, d)) + means[y]
        return (x + offset if moved else x), y

    xs, ys = domain(n, False)
    xt, yt = domain(m, True)
    xs, xt = standardize(xs, xt)
    return xs, ys, xt, yt, groups


def _least_squares(xs, ys, xt):
    """Source-only least squares with an intercept (minimum-norm), argmax of its outputs."""
    y = np.eye(3)[ys]
    a = np.hstack([xs, np.ones((len(xs), 1))])
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    return np.argmax(np.hstack([xt, np.ones((len(xt), 1))]) @ coef, axis=1)


@pytest.fixture
def small():
    return _regions_problem(0, num_regions=5, size=3, n=40, m=30, s_signal=1.5)


# ------------------------------------------------------------------------------- TGSR


def test_tgsr_objective_matches_loops(small):
    xs, ys, xt, _, groups = small
    rng = np.random.default_rng(1)
    u, b = rng.normal(size=(xs.shape[1], 3)), rng.normal(size=3)
    w = rng.uniform(0.5, 2.0, size=5)
    lam, mu, gamma = 0.7, 1.3, 0.4
    y = np.eye(3)[ys]
    fit = sum((y[i, k] - xs[i] @ u[:, k] - b[k]) ** 2 for i in range(len(xs)) for k in range(3))
    delta = xs.mean(0) - xt.mean(0)
    shift = sum((delta @ u[:, k]) ** 2 for k in range(3))
    regions = sum(w[r] * np.sqrt(np.sum(u[groups == r] ** 2)) for r in range(5))
    rows = sum(np.sqrt(np.sum(u[j] ** 2)) for j in range(len(u)))
    expected = fit + lam * shift + mu * regions + gamma * rows
    got = tgsr_objective(
        u, b, xs, ys, xt, groups=groups, lam=lam, mu=mu, gamma=gamma, group_weights=w
    )
    assert got == pytest.approx(expected, rel=1e-12)


def _ista_reference(xs, ys, xt, groups, lam, mu, gamma, w, iters=8000):
    """Independent solver: plain proximal gradient on (U, b) jointly, no centring trick,
    no acceleration, the prox applied to the rows, then region by region in a loop."""
    y = np.eye(3)[ys]
    n, d = xs.shape
    delta = xs.mean(0) - xt.mean(0)
    a = np.hstack([xs, np.ones((n, 1))])
    full_delta = np.r_[delta, 0.0]
    step = 1.0 / (2.0 * np.linalg.eigvalsh(a.T @ a + lam * np.outer(full_delta, full_delta))[-1])
    u, b = np.zeros((d, 3)), np.zeros(3)
    for _ in range(iters):
        r = xs @ u + b - y
        gu = 2.0 * (xs.T @ r + lam * np.outer(delta, delta @ u))
        gb = 2.0 * r.sum(0)
        v, b = u - step * gu, b - step * gb
        rows = np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
        v = v * np.maximum(1.0 - step * gamma / rows, 0.0)
        for g in range(int(groups.max()) + 1):
            cols = groups == g
            ng = np.linalg.norm(v[cols])
            v[cols] = 0.0 if ng <= step * mu * w[g] else v[cols] * (1 - step * mu * w[g] / ng)
        u = v
    return u, b


@pytest.mark.parametrize(("lam", "mu", "gamma"), [(1.0, 0.5, 0.0), (5.0, 0.3, 0.1)])
def test_tgsr_history_is_monotone_and_solution_matches_reference(small, lam, mu, gamma):
    xs, ys, xt, _, groups = small
    sol = tgsr(xs, ys, xt, groups=groups, lam=lam, mu=mu, gamma=gamma, tol=1e-10, max_iter=20000)
    assert sol.converged and len(sol.objective) == sol.iterations
    f = sol.objective
    assert np.all(np.diff(f) <= 1e-12 * abs(f[0])), "objective rose"
    kwargs = dict(groups=groups, lam=sol.lam, mu=sol.mu, gamma=sol.gamma)
    at_zero = tgsr_objective(0 * sol.U, np.bincount(ys) / len(ys), xs, ys, xt, **kwargs)
    assert f[0] <= at_zero and f[-1] < 0.9 * at_zero
    assert tgsr_objective(sol.U, sol.bias, xs, ys, xt, **kwargs) == pytest.approx(f[-1], rel=1e-10)
    np.testing.assert_allclose(sol.group_weights, np.sqrt(3.0))
    # The penalty is active (regions or rows switched off) but not everything is zero.
    rows = np.count_nonzero(np.linalg.norm(sol.U, axis=1))
    assert 0 < rows < xs.shape[1]
    np.testing.assert_allclose(
        sol.region_norms, [np.linalg.norm(sol.U[groups == r]) for r in range(5)], rtol=1e-12
    )
    ref_u, ref_b = _ista_reference(
        xs, ys, xt, groups, sol.lam, sol.mu, sol.gamma, sol.group_weights
    )
    f_ref = tgsr_objective(ref_u, ref_b, xs, ys, xt, **kwargs)
    assert f[-1] <= f_ref * (1 + 1e-9)
    assert f[-1] == pytest.approx(f_ref, rel=1e-7)
    np.testing.assert_allclose(sol.U, ref_u, atol=1e-4 * np.abs(ref_u).max())
    np.testing.assert_allclose(sol.bias, ref_b, atol=1e-4)


def test_tgsr_satisfies_group_lasso_optimality(small):
    # grad_r + mu w_r U_r / ||U_r|| = 0 on kept regions, ||grad_r|| <= mu w_r on dropped ones.
    xs, ys, xt, _, groups = small
    sol = tgsr(xs, ys, xt, groups=groups, lam=1.0, mu=0.5, tol=1e-11, max_iter=50000)
    y = np.eye(3)[ys]
    delta = xs.mean(0) - xt.mean(0)
    grad = 2.0 * (xs.T @ (xs @ sol.U + sol.bias - y) + sol.lam * np.outer(delta, delta @ sol.U))
    scale = np.linalg.norm(2.0 * (xs - xs.mean(0)).T @ (y - y.mean(0)))
    kept = 0
    for r in range(5):
        cols = groups == r
        thr = sol.mu * sol.group_weights[r]
        if sol.region_norms[r] > 0:
            kept += 1
            stationary = grad[cols] + thr * sol.U[cols] / sol.region_norms[r]
            assert np.linalg.norm(stationary) <= 1e-6 * scale
        else:
            assert np.linalg.norm(grad[cols]) <= thr * (1 + 1e-9)
    assert 0 < kept < 5
    # the bias is optimal too: residuals sum to zero
    np.testing.assert_allclose((xs @ sol.U + sol.bias - y).sum(0), 0.0, atol=1e-9)


def test_tgsr_without_penalties_is_the_closed_form(small):
    xs, ys, xt, _, groups = small
    y = np.eye(3)[ys]
    xc, yc = xs - xs.mean(0), y - y.mean(0)
    delta = xs.mean(0) - xt.mean(0)
    for lam in (0.0, 3.0):
        sol = tgsr(xs, ys, xt, groups=groups, lam=lam, mu=0.0, tol=1e-12, max_iter=100000)
        closed = np.linalg.solve(xc.T @ xc + sol.lam * np.outer(delta, delta), xc.T @ yc)
        np.testing.assert_allclose(sol.U, closed, atol=1e-7)
        np.testing.assert_allclose(sol.bias, y.mean(0) - xs.mean(0) @ closed, atol=1e-7)


def test_tgsr_relative_mu_of_one_switches_everything_off(small):
    xs, ys, xt, _, groups = small
    one = np.zeros_like(groups)
    for g in (one, groups):
        sol = tgsr(xs, ys, xt, groups=g, mu=1.0)
        assert np.all(sol.U == 0.0) and np.all(sol.region_norms == 0.0)
        np.testing.assert_allclose(sol.bias, np.bincount(ys) / len(ys))
        assert np.any(tgsr(xs, ys, xt, groups=g, mu=0.95).U != 0.0)


def test_tgsr_relative_scale_maps_to_absolute(small):
    xs, ys, xt, _, groups = small
    rel = tgsr(xs, ys, xt, groups=groups, lam=0.5, mu=0.2, gamma=0.05)
    y = np.eye(3)[ys]
    grad0 = -2.0 * (xs - xs.mean(0)).T @ (y - y.mean(0))
    mu_max = max(np.linalg.norm(grad0[groups == r]) / np.sqrt(3.0) for r in range(5))
    assert rel.lam == pytest.approx(0.5 * len(xs))
    assert rel.mu == pytest.approx(0.2 * mu_max)
    assert rel.gamma == pytest.approx(0.05 * np.linalg.norm(grad0, axis=1).max())
    ab = tgsr(xs, ys, xt, groups=groups, lam=rel.lam, mu=rel.mu, gamma=rel.gamma, scale="absolute")
    np.testing.assert_allclose(ab.U, rel.U, rtol=1e-12, atol=1e-14)


def test_tgsr_recovers_the_label_regions_and_drops_the_shifted_ones():
    for seed in range(3):
        xs, ys, xt, yt, groups = _regions_problem(seed, n=150, m=150)
        plain = tgsr(xs, ys, xt, groups=groups, lam=0.0)
        sol = tgsr(xs, ys, xt, groups=groups)
        # the two label regions have the largest norms
        assert set(np.argsort(-sol.region_norms)[:2]) == {0, 1}, seed
        # the discrepancy term takes weight off the shifted regions
        assert sol.region_norms[[2, 3]].sum() < 0.5 * plain.region_norms[[2, 3]].sum(), seed
        base = np.mean(_least_squares(xs, ys, xt) == yt)
        assert np.mean(sol.predict(xt) == yt) >= base + 0.05, seed


# ------------------------------------------------------------------------------- RSTR


def test_rstr_objective_matches_loops(small):
    xs, ys, xt, _, groups = small
    rng = np.random.default_rng(2)
    u, b = rng.normal(size=(xs.shape[1], 3)), rng.normal(size=3)
    w = rng.uniform(0.0, 2.0, size=5)
    lam, beta, rho = 0.7, 1.3, 0.4
    y = np.eye(3)[ys]
    delta = xs.mean(0) - xt.mean(0)
    fit = 0.0
    for i in range(len(xs)):
        for k in range(3):
            out = sum(w[groups[j]] * xs[i, j] * u[j, k] for j in range(xs.shape[1])) + b[k]
            fit += (y[i, k] - out) ** 2
    shift = sum(
        w[r] ** 2 * sum((delta[groups == r] @ u[groups == r, k]) ** 2 for k in range(3))
        for r in range(5)
    )
    expected = fit + lam * shift + beta * np.sum(u**2) + rho * np.sum(w**2)
    got = rstr_objective(u, w, b, xs, ys, xt, groups=groups, lam=lam, beta=beta, rho=rho)
    assert got == pytest.approx(expected, rel=1e-12)


def _ridge_step(xs, ys, xt, groups, w, lam, beta):
    """Direct d x d solve of the U-step for fixed weights (no Woodbury, no Gram blocks)."""
    y = np.eye(3)[ys]
    xc, yc = xs - xs.mean(0), y - y.mean(0)
    delta = xs.mean(0) - xt.mean(0)
    xw = xc * w[groups]
    dmat = np.zeros((xs.shape[1], len(w)))
    for r in range(len(w)):
        dmat[groups == r, r] = w[r] * delta[groups == r]
    a = xw.T @ xw + lam * dmat @ dmat.T + beta * np.eye(xs.shape[1])
    return np.linalg.solve(a, xw.T @ yc)


@pytest.mark.parametrize(("lam", "rho"), [(1.0, 0.1), (10.0, 0.02)])
def test_rstr_history_is_monotone_and_blocks_are_optimal(small, lam, rho):
    xs, ys, xt, _, groups = small
    sol = rstr(xs, ys, xt, groups=groups, lam=lam, rho=rho, tol=1e-13, max_iter=3000)
    f = sol.objective
    assert len(f) == sol.iterations
    assert np.all(np.diff(f) <= 1e-12 * abs(f[0])), "objective rose"
    w = sol.region_weights
    assert np.all(w >= 0) and w.sum() == pytest.approx(5.0)
    np.testing.assert_allclose(sol.U, w[groups][:, None] * sol.region_projection, rtol=1e-12)
    kwargs = dict(groups=groups, lam=sol.lam, beta=sol.beta, rho=sol.rho)
    f_end = rstr_objective(sol.region_projection, w, sol.bias, xs, ys, xt, **kwargs)
    assert f_end == pytest.approx(f[-1], rel=1e-10)
    # U-step: the d x d ridge solve for the final weights.
    ref = _ridge_step(xs, ys, xt, groups, w, sol.lam, sol.beta)
    np.testing.assert_allclose(sol.region_projection, ref, atol=1e-9 * np.abs(ref).max())
    # w-step: KKT of the quadratic in w on {w >= 0, sum w = R} (gradient by finite
    # differences of the objective): equal on the support, not smaller off it.
    grad = np.empty(5)
    for r in range(5):
        e = np.zeros(5)
        e[r] = 1e-5
        up = rstr_objective(sol.region_projection, w + e, sol.bias, xs, ys, xt, **kwargs)
        down = rstr_objective(sol.region_projection, w - e, sol.bias, xs, ys, xt, **kwargs)
        grad[r] = (up - down) / 2e-5
    support = w > 1e-9
    level = grad[support].mean()
    tol = 1e-4 * np.abs(grad).max() + 1e-8
    assert np.abs(grad[support] - level).max() <= tol
    assert np.all(grad[~support] >= level - tol)


def test_rstr_with_uniform_weights_forced_is_ridge(small):
    # rho huge pins w to uniform: the solution is the closed-form ridge with discrepancy.
    xs, ys, xt, _, groups = small
    sol = rstr(xs, ys, xt, groups=groups, rho=1e9)
    np.testing.assert_allclose(sol.region_weights, 1.0, atol=1e-6)
    ref = _ridge_step(xs, ys, xt, groups, np.ones(5), sol.lam, sol.beta)
    np.testing.assert_allclose(sol.U, ref, atol=1e-6 * np.abs(ref).max())


def test_rstr_recovers_the_label_regions_and_drops_the_shifted_ones():
    for seed in range(3):
        xs, ys, xt, yt, groups = _regions_problem(seed, n=150, m=150)
        plain = rstr(xs, ys, xt, groups=groups, lam=0.0)
        sol = rstr(xs, ys, xt, groups=groups)
        w = sol.region_weights
        assert sol.converged, seed
        assert set(np.argsort(-w)[:2]) == {0, 1}, seed
        # the shifted regions fall from second rank to the level of the noise regions
        assert w[[2, 3]].sum() < 0.7 * plain.region_weights[[2, 3]].sum(), seed
        base = np.mean(_least_squares(xs, ys, xt) == yt)
        assert np.mean(sol.predict(xt) == yt) >= base + 0.05, seed


# ------------------------------------------------------------------- the shallow methods


def test_registered_and_built_by_name():
    assert "tgsr" in SHALLOW_METHODS and "rstr" in SHALLOW_METHODS
    assert type(make_shallow("tgsr")) is TGSR and type(make_shallow("rstr")) is RSTR
    assert make_shallow("tgsr", mu=0.3).mu == 0.3
    assert TGSR.needs_groups and RSTR.needs_groups and not make_shallow("svm").needs_groups


@pytest.mark.parametrize(("name", "solver"), [("tgsr", tgsr), ("rstr", rstr)])
def test_method_is_the_solver_on_standardised_features(small, name, solver):
    xs, ys, xt, _, groups = small
    raw_s, raw_t = xs * 3.0 + 1.0, xt * 3.0 + 1.0
    method = make_shallow(name)
    preds, scores = method.fit_predict(raw_s, ys, raw_t, groups=groups)
    p2, s2, solution = method.fit_solution(raw_s, ys, raw_t, groups=groups)
    zs, zt = method.adapt(raw_s, ys, raw_t, groups=groups)
    p3, s3, fs, ft = method.fit_transform_predict(raw_s, ys, raw_t, groups=groups)
    a, b = standardize(raw_s, raw_t)
    direct = solver(a, ys, b, groups=groups)
    np.testing.assert_allclose(solution.U, direct.U, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scores, direct.decision_function(b), rtol=1e-12, atol=1e-12)
    for p, s in ((p2, s2), (p3, s3)):
        np.testing.assert_array_equal(p, preds)
        np.testing.assert_array_equal(s, scores)
    np.testing.assert_array_equal(preds, scores.argmax(1))
    np.testing.assert_array_equal(zt, scores)
    np.testing.assert_array_equal(ft, zt)
    np.testing.assert_allclose(zs, direct.decision_function(a), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fs, zs)
    assert solution.region_importance.shape == (5,)
    assert scores.shape == (len(xt), 3) and preds.dtype == np.int64


def test_other_methods_ignore_groups(small):
    xs, ys, xt, _, groups = small
    with_groups = make_shallow("svm").fit_predict(xs, ys, xt, groups=groups)
    without = make_shallow("svm").fit_predict(xs, ys, xt)
    np.testing.assert_array_equal(with_groups[1], without[1])


@pytest.mark.parametrize("name", ["tgsr", "rstr"])
@pytest.mark.parametrize(
    ("groups", "match"),
    [
        (None, "needs the table's `groups`"),
        (np.arange(14) % 5, "one region index per feature column"),
        (np.zeros((15, 1), int), "one region index per feature column"),
        ((np.arange(15) % 5).astype(float), "integer region indices"),
        (np.array(["a"] * 15), "integer region indices"),
        (np.arange(15) % 5 - 1, "negative"),
        (np.repeat([0, 1, 3, 4, 5], 3), r"region\(s\) \[2\] without columns"),
    ],
)
def test_bad_groups_raise_before_any_work(small, name, groups, match):
    xs, ys, xt, _, _ = small
    solver = {"tgsr": tgsr, "rstr": rstr}[name]
    with pytest.raises(ValueError, match=match) as err:
        make_shallow(name).fit_predict(xs, ys, xt, groups=groups)
    assert "groups" in str(err.value)
    if groups is None:
        assert f"method {name!r}" in str(err.value) and "lbptop" in str(err.value)
        # checked first: a missing `groups` is named even when the features are bad too
        with pytest.raises(ValueError, match="groups"):
            make_shallow(name).fit_predict(np.full_like(xs, np.nan), ys, xt)
    with pytest.raises(ValueError, match=match):
        solver(xs, ys, xt, groups=groups)


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("tgsr", {"lam": -1.0}, "lam"),
        ("tgsr", {"mu": -1.0}, "mu"),
        ("tgsr", {"gamma": -0.1}, "gamma"),
        ("tgsr", {"scale": "log"}, "scale"),
        ("tgsr", {"tol": 0.0}, "tol"),
        ("tgsr", {"max_iter": 0}, "max_iter"),
        ("rstr", {"lam": -1.0}, "lam"),
        ("rstr", {"beta": 0.0}, "beta"),
        ("rstr", {"rho": -1.0}, "rho"),
        ("rstr", {"scale": "log"}, "scale"),
        ("rstr", {"w_iter": 0}, "w_iter"),
    ],
)
def test_bad_options_raise(small, name, options, match):
    xs, ys, xt, _, groups = small
    solver = {"tgsr": tgsr, "rstr": rstr}[name]
    with pytest.raises(ValueError, match=match):
        solver(xs, ys, xt, groups=groups, **options)
    with pytest.raises(ValueError, match=match):
        make_shallow(name, **options)


def test_classifier_option_is_refused_and_weights_checked(small):
    xs, ys, xt, _, groups = small
    with pytest.raises(ValueError, match="classifier"):
        make_shallow("tgsr", classifier="logreg")
    with pytest.raises(ValueError, match="group_weights"):
        tgsr(xs, ys, xt, groups=groups, group_weights=np.ones(4))
    with pytest.raises(ValueError, match="feature columns"):
        tgsr(xs, ys, xt, groups=groups).predict(xt[:, :5])
