"""Subspace alignment and the CORAL transform against plain NumPy/SciPy references."""

import numpy as np
import pytest
import scipy.linalg

from dalib.shallow import SA, CoralTransform, coral_transform, make_shallow, subspace_alignment


def _pca_reference(x, k):
    """Top-k eigenvectors of the sample covariance (eigh, not SVD)."""
    vals, vecs = np.linalg.eigh(np.cov(x, rowvar=False))
    return vecs[:, np.argsort(vals)[::-1][:k]]


def _sa_reference(xs, xt, k):
    xs_c, xt_c = xs - xs.mean(0), xt - xt.mean(0)
    ps, pt = _pca_reference(xs, k), _pca_reference(xt, k)
    m = ps.T @ pt
    return xs_c @ ps @ m, xt_c @ pt


def _coral_reference(xs, xt, reg):
    d = xs.shape[1]
    cs = np.cov(xs, rowvar=False) + reg * np.eye(d)
    ct = np.cov(xt, rowvar=False) + reg * np.eye(d)
    whiten = np.linalg.inv(scipy.linalg.sqrtm(cs)).real
    recolour = scipy.linalg.sqrtm(ct).real
    return xs @ whiten @ recolour


@pytest.mark.parametrize(("n", "m", "d", "k"), [(30, 25, 6, 3), (12, 9, 20, 5)])
def test_sa_matches_reference(n, m, d, k):
    rng = np.random.default_rng(n)
    xs = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    xt = rng.normal(size=(m, d)) @ rng.normal(size=(d, d)) + 1.0
    zs, zt = subspace_alignment(xs, xt, dim=k)
    rs, rt = _sa_reference(xs, xt, k)
    # Column j of both outputs flips with the sign of the j-th target direction.
    signs = np.sign(np.sum(zt * rt, axis=0))
    np.testing.assert_allclose(zs * signs, rs, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(zt * signs, rt, rtol=1e-6, atol=1e-8)


def test_sa_identical_domains_is_pca():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5))
    zs, zt = subspace_alignment(x, x, dim=3)
    np.testing.assert_allclose(zs, zt, atol=1e-10)


def test_sa_with_a_shared_subspace_projects_on_the_target_basis():
    # Same principal axes, different spreads: M = Ps^T Pt is a signed identity, so the
    # aligned source is the centred source in the target basis.
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(300, 4)) * np.array([4.0, 2.0, 0.1, 0.1])
    xt = rng.normal(size=(200, 4)) * np.array([6.0, 1.0, 0.1, 0.1]) + 2.0
    zs, zt = subspace_alignment(xs, xt, dim=2)
    pt = _pca_reference(xt, 2)
    signs = np.sign(np.sum(zt * ((xt - xt.mean(0)) @ pt), axis=0))
    np.testing.assert_allclose(zs * signs, (xs - xs.mean(0)) @ pt, atol=0.05)


@pytest.mark.parametrize(
    ("n", "m", "d", "reg"), [(40, 30, 5, 1.0), (8, 11, 15, 0.3), (25, 6, 9, 2.0)]
)
def test_coral_matches_reference(n, m, d, reg):
    rng = np.random.default_rng(d)
    xs = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 0.5
    xt = rng.normal(size=(m, d)) @ rng.normal(size=(d, d))
    np.testing.assert_allclose(
        coral_transform(xs, xt, reg=reg), _coral_reference(xs, xt, reg), rtol=1e-7, atol=1e-9
    )


def test_coral_recolours_to_the_target_covariance():
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(3000, 3)) @ np.diag([1.0, 3.0, 0.5])
    xt = rng.normal(size=(3000, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.3, 1.5]])
    out = coral_transform(xs, xt, reg=1e-6)
    np.testing.assert_allclose(np.cov(out.T), np.cov(xt.T), atol=1e-4)


def test_coral_identical_domains_is_identity():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    np.testing.assert_allclose(coral_transform(x, x, reg=0.5), x, atol=1e-10)


def test_method_classes_use_the_functions():
    rng = np.random.default_rng(4)
    xs, xt = rng.normal(size=(30, 4)), rng.normal(size=(20, 4)) * 2.0
    ys = (xs[:, 0] > 0).astype(int)
    zs, zt = CoralTransform(standardize="none", reg=0.7).adapt(xs, ys, xt)
    np.testing.assert_allclose(zs, coral_transform(xs, xt, reg=0.7))
    np.testing.assert_array_equal(zt, xt)
    zs, zt = SA(standardize="none", dim=2).adapt(xs, ys, xt)
    rs, rt = subspace_alignment(xs, xt, dim=2)
    np.testing.assert_allclose(zs, rs)
    np.testing.assert_allclose(zt, rt)


def test_bad_inputs_raise():
    x = np.ones((5, 3))
    with pytest.raises(ValueError, match="reg"):
        coral_transform(x, x, reg=0.0)
    with pytest.raises(ValueError, match=r"source.*2\+"):
        coral_transform(np.ones((1, 3)), x)
    with pytest.raises(ValueError, match="dim"):
        subspace_alignment(x, x, dim=0)
    with pytest.raises(ValueError, match="same feature size"):
        subspace_alignment(x, np.ones((5, 4)))
    with pytest.raises(ValueError, match="reg"):
        make_shallow("coral_transform", reg=-1.0)
