"""Per-corpus and per-speaker z-normalisation against a plain NumPy reference."""

import numpy as np
import pytest

from dalib import features


def _reference(x, groups):
    """Loops over groups and columns: (x - mean) / std with population std."""
    out = np.zeros_like(x, dtype=np.float64)
    for g in set(groups):
        rows = [i for i, h in enumerate(groups) if h == g]
        for j in range(x.shape[1]):
            col = [x[i, j] for i in rows]
            mean = sum(col) / len(col)
            std = (sum((v - mean) ** 2 for v in col) / len(col)) ** 0.5
            for i in rows:
                out[i, j] = (x[i, j] - mean) / max(std, 1e-8)
    return out


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    speakers = np.array(["03", "08", "08", "16", "03", "16", "08", "03", "16", "08"] * 3)
    offset = {"03": 5.0, "08": -2.0, "16": 10.0}
    x = (
        rng.standard_normal((speakers.size, 4)) * 3
        + np.array([offset[s] for s in speakers])[:, None]
    )
    return x, speakers


def test_per_speaker_zero_mean_unit_variance(table):
    x, speakers = table
    z = features.zscore(x, groups=speakers)
    np.testing.assert_allclose(z, _reference(x, list(speakers)), rtol=1e-10, atol=1e-12)
    for s in set(speakers):
        np.testing.assert_allclose(z[speakers == s].mean(0), 0.0, atol=1e-12)
        np.testing.assert_allclose(z[speakers == s].var(0), 1.0, rtol=1e-10)


def test_per_corpus(table):
    x, _ = table
    z = features.zscore(x)
    np.testing.assert_allclose(z, _reference(x, [0] * len(x)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-10)


def test_transform_uses_fitted_statistics(table):
    x, speakers = table
    norm = features.Normalizer.fit(x, speakers)
    shifted = norm.transform(x + 1.0, speakers)
    base = norm.transform(x, speakers)
    for s in set(speakers):
        std = x[speakers == s].std(0)
        expected = np.broadcast_to(1 / std, (int(np.sum(speakers == s)), 4))
        np.testing.assert_allclose((shifted - base)[speakers == s], expected, rtol=1e-10)
    assert sorted(norm.groups) == ["03", "08", "16"]


def test_constant_feature_and_dtype():
    x = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 6.0]], np.float32)
    z = features.zscore(x)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z[:, 0], 0.0)


def test_errors(table):
    x, speakers = table
    norm = features.Normalizer.fit(x, speakers)
    with pytest.raises(ValueError, match=r"groups \['99'\] were not seen by fit"):
        norm.transform(x[:2], ["03", "99"])
    with pytest.raises(ValueError, match="one entry per row of `features` \\(30\\)"):
        features.zscore(x, groups=speakers[:5])
    with pytest.raises(ValueError, match=r"has 3 columns .* fitted on 4"):
        norm.transform(x[:, :3], speakers)
    with pytest.raises(TypeError, match="floating-point"):
        features.zscore(np.ones((3, 2), int))
    with pytest.raises(ValueError, match="NaN or infinite"):
        features.zscore(np.array([[np.nan, 1.0]]))
