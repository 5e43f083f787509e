"""TSRG: definitions against loops, the ALM against optimality and an independent solver."""

import numpy as np
import pytest

from dalib.shallow import TSRG, _tsrg, make_shallow, tsrg, tsrg_objective


def _kernel(a, b, kernel, bandwidth):
    if kernel == "linear":
        return float(np.dot(a, b))
    return float(np.exp(-np.sum((a - b) ** 2) / (2.0 * bandwidth**2)))


def _definitions(xs, xt, kernel, bandwidth):
    """K_s, K_t (all samples against source / target) and k_delta, by loops."""
    x = np.vstack([xs, xt])
    ks = np.array(
        [[_kernel(x[i], xs[j], kernel, bandwidth) for j in range(len(xs))] for i in range(len(x))]
    )
    kt = np.array(
        [[_kernel(x[i], xt[j], kernel, bandwidth) for j in range(len(xt))] for i in range(len(x))]
    )
    kd = np.array([ks[i].sum() / len(xs) - kt[i].sum() / len(xt) for i in range(len(x))])
    return ks, kt, kd


def _fista(xs, ks, kd, lam, mu, iters=20000):
    """An independent solver (accelerated proximal gradient) for the same objective."""
    g = ks @ ks.T + lam * np.outer(kd, kd)
    rhs = ks @ xs
    step = 1.0 / (2.0 * np.linalg.eigvalsh(g).max())
    p = np.zeros_like(rhs)
    y, t = p.copy(), 1.0
    for _ in range(iters):
        z = y - step * 2.0 * (g @ y - rhs)
        p_new = np.sign(z) * np.maximum(np.abs(z) - step * mu, 0.0)
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = p_new + (t - 1.0) / t_new * (p_new - p)
        p, t = p_new, t_new
    return p


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(14, 5))
    xt = rng.normal(size=(11, 5)) * 1.5 + 1.0
    return xs, xt


@pytest.mark.parametrize(("kernel", "bandwidth"), [("linear", None), ("rbf", 2.0)])
def test_definitions_match_loops(data, kernel, bandwidth):
    xs, xt = data
    sol = tsrg(xs, xt, kernel=kernel, bandwidth=bandwidth)
    ks, kt, kd = _definitions(xs, xt, kernel, bandwidth)
    np.testing.assert_allclose(sol.source_kernel, ks, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.kernel_delta, kd, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        sol.regenerated_target, kt.T @ sol.coefficients, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        sol.regenerated_source, ks.T @ sol.coefficients, rtol=1e-10, atol=1e-12
    )
    ref_obj = (
        np.sum((xs - ks.T @ sol.coefficients) ** 2)
        + sol.lam * np.sum((kd @ sol.coefficients) ** 2)
        + sol.mu * np.sum(np.abs(sol.coefficients))
    )
    np.testing.assert_allclose(sol.objective[-1], ref_obj, rtol=1e-10)


def test_relative_scale_maps_to_absolute_weights(data):
    xs, xt = data
    ks, _, _ = _definitions(xs, xt, "linear", None)
    rel = tsrg(xs, xt, lam=0.5, mu=0.02)
    assert rel.lam == pytest.approx(0.5 * len(xs))
    assert rel.mu == pytest.approx(0.02 * 2.0 * np.abs(ks @ xs).max())
    ab = tsrg(xs, xt, lam=rel.lam, mu=rel.mu, scale="absolute")
    np.testing.assert_allclose(ab.coefficients, rel.coefficients, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("kernel", "bandwidth", "lam", "mu"),
    [("linear", None, 1.0, 1e-2), ("linear", None, 10.0, 1e-3), ("rbf", 2.0, 1.0, 1e-2)],
)
def test_alm_objective_decreases_and_solution_is_optimal(data, kernel, bandwidth, lam, mu):
    xs, xt = data
    sol = tsrg(xs, xt, lam=lam, mu=mu, kernel=kernel, bandwidth=bandwidth, record_objective=True)
    assert sol.converged
    f = sol.objective
    assert len(f) == sol.iterations
    # The objective falls far below its start and ends at the lowest value it
    # visited; ALM's early overshoots die out as the penalty grows (any rise in the
    # second half is < 1e-3 of the objective, in the last quarter < 1e-5).
    assert f[-1] < 0.5 * f[0]
    assert f[-1] <= f.min() * (1 + 1e-12)
    rises = np.maximum(np.diff(f), 0.0) / f[-1]
    assert rises[len(f) // 2 :].max() < 1e-3
    assert rises[3 * len(f) // 4 :].max() < 1e-5
    # Subgradient optimality of P: grad f_smooth + mu * sign(P) = 0 where P != 0 and
    # |grad f_smooth| <= mu where P == 0, to 1e-3 of the gradient's scale at P = 0
    # (the linear-kernel problem is very ill-conditioned; ALM stops near, not at, it).
    p, ks, kd = sol.coefficients, sol.source_kernel, sol.kernel_delta
    grad = 2.0 * ((ks @ ks.T + sol.lam * np.outer(kd, kd)) @ p - ks @ xs)
    scale = 2.0 * np.abs(ks @ xs).max()
    nz = p != 0
    assert nz.any() and (~nz).any()
    assert np.abs(grad[nz] + sol.mu * np.sign(p[nz])).max() <= 1e-3 * scale
    assert np.abs(grad[~nz]).max() <= sol.mu + 1e-3 * scale
    # Within 0.5 % of the optimum found by an independent solver.
    ref = _fista(xs, ks, kd, sol.lam, sol.mu)
    f_ref = tsrg_objective(ref, xs, ks, kd, lam=sol.lam, mu=sol.mu)
    assert f_ref <= f[-1] <= f_ref * 1.005


def test_without_mmd_or_sparsity_the_regenerator_is_the_identity(data):
    # Linear kernel, n > d: G(x) = Pᵀ X x with Xᵀ P = I reconstructs the source exactly,
    # so it maps every x to itself. The ALM gets there within its tolerance.
    xs, xt = data
    sol = tsrg(xs, xt, lam=0.0, mu=0.0)
    atol = 1e-2 * np.abs(xs).max()
    np.testing.assert_allclose(sol.regenerated_source, xs, atol=atol)
    np.testing.assert_allclose(sol.regenerated_target, xt, atol=atol)


def test_mmd_term_pulls_the_target_mean_to_the_source():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(40, 4))
    xt = rng.normal(size=(30, 4)) + np.array([2.0, -1.0, 0.0, 0.5])
    gaps = []
    for lam in (0.0, 1.0, 100.0):
        sol = tsrg(xs, xt, lam=lam, mu=1e-3)
        gaps.append(np.linalg.norm(sol.regenerated_target.mean(0) - sol.regenerated_source.mean(0)))
    assert gaps[0] > 2 * gaps[1] > 0 and gaps[1] > gaps[2]
    assert gaps[2] < 0.05 * np.linalg.norm(xs.mean(0) - xt.mean(0))


def test_larger_mu_gives_sparser_coefficients(data):
    xs, xt = data
    nnz = [np.count_nonzero(tsrg(xs, xt, mu=mu).coefficients) for mu in (1e-3, 1e-2, 1e-1)]
    assert nnz[0] > nnz[1] > nnz[2] > 0


def test_method_trains_on_source_and_predicts_regenerated_target(data):
    xs, xt = data
    ys = (xs[:, 0] > 0).astype(int)
    zs, zt = TSRG(standardize="none", lam=2.0).adapt(xs, ys, xt)
    np.testing.assert_array_equal(zs, xs)
    np.testing.assert_allclose(zt, tsrg(xs, xt, lam=2.0).regenerated_target)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"lam": -1.0}, "lam"),
        ({"mu": -1.0}, "mu"),
        ({"scale": "log"}, "scale"),
        ({"kernel": "rbf", "bandwidth": 0.0}, "bandwidth"),
        ({"kernel": "poly"}, "kernel"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"rho": 1.0}, "rho"),
    ],
)
def test_bad_options_raise(data, options, match):
    xs, xt = data
    with pytest.raises(ValueError, match=match):
        tsrg(xs, xt, **options)
    if "rho" not in options:
        with pytest.raises(ValueError, match=match):
            make_shallow("tsrg", **options)


def _alm_plain(xs, xt, lam_abs, mu_abs, tol=1e-6, max_iter=1000, rho=1.1):
    """The ALM of the module notes written as plain expressions (fresh arrays each step)."""
    x = np.vstack([xs, xt])
    ks, kt = x @ xs.T, x @ xt.T
    kd = ks.mean(axis=1) - kt.mean(axis=1)
    rhs = ks @ xs
    f = np.concatenate([ks, np.sqrt(lam_abs) * kd[:, None]], axis=1)
    u, sing, _ = np.linalg.svd(f, full_matrices=False)
    ev = sing * sing
    g_mean = float(ev.sum() / f.shape[0])
    kappa, kappa_max = 1e-3 * g_mean, 1e6 * g_mean
    keep = ev > 1e-12 * ev.max()
    u, ev = u[:, keep], ev[keep]
    p, t = np.zeros_like(rhs), np.zeros_like(rhs)
    rhs_rot = u.T @ rhs
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        c = 0.5 * kappa
        r = rhs + 0.5 * (kappa * p + t)
        r_rot = rhs_rot + u.T @ (0.5 * (kappa * p + t))
        q = r / c + u @ (r_rot * (1.0 / (ev + c) - 1.0 / c)[:, None])
        z = q - t / kappa
        p = np.sign(z) * np.maximum(np.abs(z) - mu_abs / kappa, 0.0)
        gap = p - q
        if np.abs(gap).max() <= tol * max(np.abs(q).max(), 1e-300):
            break
        t = t + kappa * gap
        kappa = min(rho * kappa, kappa_max)
    return p, it, kt.T @ p


@pytest.mark.parametrize("block_elements", [None, 40, 120])
def test_in_place_iteration_equals_the_plain_formulas_bit_for_bit(block_elements, monkeypatch):
    # tsrg runs the ALM's elementwise steps in one sweep over row blocks of
    # preallocated buffers; the values must be those of the plain expressions,
    # to the last bit, iteration count included. With 40 columns, blocks of 40
    # and 120 elements are 1 and 3 rows (the last of 55 rows a partial block);
    # the default is one block.
    if block_elements is not None:
        monkeypatch.setattr(_tsrg, "_BLOCK_ELEMENTS", block_elements)
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(30, 40))
    xt = rng.normal(size=(25, 40)) + 0.5
    sol = tsrg(xs, xt, lam=1.0, mu=1e-2)
    p, iterations, regenerated = _alm_plain(xs, xt, sol.lam, sol.mu)
    assert sol.iterations == iterations > 10
    assert np.array_equal(sol.coefficients, p)
    assert np.array_equal(sol.regenerated_target, regenerated)
    assert 0.05 < np.mean(sol.coefficients == 0) < 0.95  # the threshold did act
