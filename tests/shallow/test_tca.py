"""TCA and JDA against plain NumPy/SciPy transcriptions of the papers' eigenproblems."""

import numpy as np
import pytest

from dalib.shallow import JDA, TCA, jda, make_shallow, tca


def _gram(x, kernel, bandwidth):
    n = x.shape[0]
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            if kernel == "linear":
                k[i, j] = float(np.dot(x[i], x[j]))
            else:
                k[i, j] = np.exp(-np.sum((x[i] - x[j]) ** 2) / (2.0 * bandwidth**2))
    return k


def _mmd_matrix(n, m, ys=None, yt=None):
    """Pan's L (and Long's M0 + sum_c Mc), entry by entry."""
    num = n + m
    dom = np.r_[np.zeros(n), np.ones(m)]
    mat = np.zeros((num, num))
    for i in range(num):
        for j in range(num):
            if dom[i] == dom[j]:
                mat[i, j] = 1.0 / n**2 if dom[i] == 0 else 1.0 / m**2
            else:
                mat[i, j] = -1.0 / (n * m)
    if yt is None:
        return mat
    classes = np.unique(ys)
    mat = mat * len(classes)
    lab = np.r_[ys, yt]
    for c in classes:
        nc, mc = np.sum(ys == c), np.sum(yt == c)
        if mc == 0:
            continue
        for i in range(num):
            for j in range(num):
                if lab[i] != c or lab[j] != c:
                    continue
                if dom[i] == 0 and dom[j] == 0:
                    mat[i, j] += 1.0 / nc**2
                elif dom[i] == 1 and dom[j] == 1:
                    mat[i, j] += 1.0 / mc**2
                else:
                    mat[i, j] -= 1.0 / (nc * mc)
    return mat


def _reference(xs, xt, dim, mu, kernel, bandwidth=None, ys=None, yt=None):
    """Leading eigenvectors of (K M K + mu I)^-1 K H K by a plain non-symmetric eig."""
    x = np.vstack([xs, xt])
    num = x.shape[0]
    h = np.eye(num) - np.ones((num, num)) / num
    mat = _mmd_matrix(len(xs), len(xt), ys, yt)
    mat = mat / np.sqrt(np.sum(mat**2))
    if kernel == "primal":
        x = x / np.sqrt(np.trace(h @ x @ x.T @ h) / num)
        lhs = x.T @ mat @ x + mu * np.eye(x.shape[1])
        rhs = x.T @ h @ x
        basis = x
    else:
        k = _gram(x, kernel, bandwidth)
        k = k / (np.trace(h @ k @ h) / num)
        lhs = k @ mat @ k + mu * np.eye(num)
        rhs = k @ h @ k
        basis = k
    vals, vecs = np.linalg.eig(np.linalg.solve(lhs, rhs))
    order = np.argsort(-vals.real)[:dim]
    return basis @ vecs[:, order].real


def _assert_same_columns(z, z_ref, rtol=1e-6):
    """Equal up to the scale and sign of each column (eigenvectors are defined so)."""
    assert z.shape == z_ref.shape
    for a, b in zip(z.T, z_ref.T, strict=True):
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        assert abs(abs(np.dot(a, b)) - 1.0) < rtol


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(13, 4))
    xt = rng.normal(size=(9, 4)) * 1.3 + 0.7
    return xs, xt


@pytest.mark.parametrize(
    ("kernel", "bandwidth", "mu", "dim"),
    [
        ("linear", None, 1.0, 3),
        ("linear", None, 0.1, 2),
        ("rbf", 1.5, 1.0, 4),
        ("primal", None, 0.5, 3),
    ],
)
def test_tca_matches_reference(data, kernel, bandwidth, mu, dim):
    xs, xt = data
    zs, zt = tca(xs, xt, dim=dim, mu=mu, kernel=kernel, bandwidth=bandwidth)
    ref = _reference(xs, xt, dim, mu, kernel, bandwidth)
    _assert_same_columns(np.vstack([zs, zt]), ref)


def test_tca_auto_kernel_picks_primal_or_kernel_form(data):
    xs, xt = data
    np.testing.assert_allclose(
        np.abs(np.vstack(tca(xs, xt, dim=2))),
        np.abs(np.vstack(tca(xs, xt, dim=2, kernel="primal"))),
    )
    wide_s, wide_t = np.hstack([xs] * 8), np.hstack([xt] * 8)  # d = 32 > N = 22
    np.testing.assert_allclose(
        np.abs(np.vstack(tca(wide_s, wide_t, dim=2))),
        np.abs(np.vstack(tca(wide_s, wide_t, dim=2, kernel="linear"))),
    )


@pytest.mark.parametrize("kernel", ["linear", "primal", "rbf"])
def test_jda_matches_reference(data, kernel):
    xs, xt = data
    rng = np.random.default_rng(1)
    ys, yt = rng.integers(0, 3, len(xs)), rng.integers(0, 3, len(xt))
    yt[yt == 2] = 1  # class 2 absent from the pseudo-labels: left out of the sum
    bandwidth = 1.5 if kernel == "rbf" else None
    zs, zt = jda(xs, ys, xt, yt, dim=3, mu=0.7, kernel=kernel, bandwidth=bandwidth)
    ref = _reference(xs, xt, 3, 0.7, kernel, bandwidth, ys, yt)
    _assert_same_columns(np.vstack([zs, zt]), ref)


def test_jda_without_pseudo_labels_is_tca(data):
    xs, xt = data
    ys = np.arange(len(xs)) % 2
    np.testing.assert_allclose(
        np.vstack(jda(xs, ys, xt, dim=3)), np.vstack(tca(xs, xt, dim=3)), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("kernel", ["primal", "rbf"])
def test_jda_with_zero_iterations_is_tca(kernel):
    rng = np.random.default_rng(2)
    xs, xt = rng.normal(size=(30, 5)), rng.normal(size=(20, 5)) + 0.5
    ys = (xs[:, 0] > 0).astype(int)
    options = dict(dim=3, mu=0.5, kernel=kernel, classifier="logreg")
    za = JDA(iterations=0, **options).adapt(xs, ys, xt)
    zb = TCA(**options).adapt(xs, ys, xt)
    np.testing.assert_allclose(np.vstack(za), np.vstack(zb), rtol=1e-12, atol=1e-12)
    pa, sa = JDA(iterations=0, **options).fit_predict(xs, ys, xt)
    pb, sb = TCA(**options).fit_predict(xs, ys, xt)
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_allclose(sa, sb, rtol=1e-10)
    # and iterating changes the embedding
    zc = JDA(iterations=2, **options).adapt(xs, ys, xt)
    assert not np.allclose(np.abs(np.vstack(zc)), np.abs(np.vstack(za)), atol=1e-6)


def test_tca_removes_a_mean_shift():
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(60, 4))
    xt = rng.normal(size=(50, 4)) + np.array([3.0, 0.0, 0.0, 0.0])
    zs, zt = tca(xs, xt, dim=2, mu=0.1)
    raw_gap = np.linalg.norm(xs.mean(0) - xt.mean(0)) / np.sqrt(np.vstack([xs, xt]).var(0).sum())
    gap = np.linalg.norm(zs.mean(0) - zt.mean(0))  # the embedding has unit pooled RMS
    assert gap < 0.1 * raw_gap


def test_dim_is_clipped_to_the_rank(data):
    xs, xt = data
    zs, zt = tca(xs, xt, dim=100, kernel="primal")
    assert zs.shape == (13, 4) and zt.shape == (9, 4)
    zs, _ = tca(xs, xt, dim=100, kernel="rbf", bandwidth=1.0)
    assert zs.shape == (13, 21)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"dim": 0}, "dim"),
        ({"dim": 2.5}, "dim"),
        ({"mu": 0.0}, "mu"),
        ({"mu": -1.0}, "mu"),
        ({"kernel": "poly"}, "kernel"),
        ({"bandwidth": -1.0}, "bandwidth"),
    ],
)
def test_bad_options_raise(data, options, match):
    xs, xt = data
    with pytest.raises(ValueError, match=match):
        tca(xs, xt, **options)
    with pytest.raises(ValueError, match=match):
        make_shallow("tca", **options)


def test_bad_iterations_raise():
    with pytest.raises(ValueError, match="iterations"):
        JDA(iterations=-1)


def test_bad_pseudo_labels_raise(data):
    xs, xt = data
    ys = np.arange(len(xs)) % 2
    with pytest.raises(ValueError, match="target_pseudo_labels"):
        jda(xs, ys, xt, np.zeros(len(xt) + 1, dtype=int))
    with pytest.raises(TypeError, match="target_pseudo_labels"):
        jda(xs, ys, xt, np.zeros(len(xt)))
