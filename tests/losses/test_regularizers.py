"""Tests for entropy, BNM and MCC against plain NumPy references."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.losses import bnm, entropy, mcc

RTOL = 1e-5


def softmax(row):
    row = np.asarray(row, dtype=np.float64)
    e = np.exp(row - row.max())
    return e / e.sum()


def ref_entropy(logits):
    out = []
    for row in logits:
        p = softmax(row)
        out.append(-sum(q * math.log(q) for q in p if q > 0))
    return np.array(out)


def ref_bnm(logits):
    probs = np.stack([softmax(r) for r in logits])
    return -np.linalg.svd(probs, compute_uv=False).sum() / len(logits)


def ref_mcc_weights(logits, temperature):
    n = len(logits)
    probs = [softmax(np.asarray(r) / temperature) for r in logits]
    raw = [1.0 + math.exp(-sum(-q * math.log(q) for q in p if q > 0)) for p in probs]
    return [n * r / sum(raw) for r in raw]


def ref_mcc(logits, temperature, weights=None):
    n, c = logits.shape
    probs = [softmax(np.asarray(r) / temperature) for r in logits]
    w = ref_mcc_weights(logits, temperature) if weights is None else weights
    conf = [[sum(w[i] * probs[i][j] * probs[i][k] for i in range(n)) for k in range(c)]
            for j in range(c)]  # fmt: skip
    off = 0.0
    for j in range(c):
        row_sum = sum(conf[j])
        for k in range(c):
            if k != j:
                off += conf[j][k] / row_sum
    return off / c


# ----------------------------------------------------------------------------- entropy


def test_entropy_matches_reference_and_bounds():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4)) * 3
    z[0] = 0.0
    z[1] = [500.0, 0.0, 0.0, 0.0]
    got = entropy(z)
    assert got.shape == (6,)
    np.testing.assert_allclose(got, ref_entropy(z), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(got[0], math.log(4), rtol=1e-12)
    assert np.all(np.asarray(got) >= -1e-12) and np.all(np.asarray(got) <= math.log(4) + 1e-12)
    np.testing.assert_allclose(jax.jit(entropy)(z), got, rtol=1e-12)
    batched = rng.normal(size=(2, 5, 3))
    np.testing.assert_allclose(
        jax.vmap(entropy)(batched), np.stack([ref_entropy(b) for b in batched]), rtol=RTOL
    )
    # Invariant to a constant shift of the logits.
    np.testing.assert_allclose(entropy(z[2:] + 7.0), got[2:], rtol=1e-10)


def test_entropy_gradients():
    z = np.random.default_rng(1).normal(size=(4, 3))
    check_grads(jax.jit(lambda x: jnp.sum(entropy(x) * jnp.arange(1.0, 5.0))), (z,), order=1)


# ----------------------------------------------------------------------------- BNM


def test_bnm_matches_numpy_svd():
    rng = np.random.default_rng(2)
    for n, c in [(7, 3), (3, 5)]:
        z = rng.normal(size=(n, c)) * 2
        np.testing.assert_allclose(bnm(z), ref_bnm(z), rtol=RTOL)
        np.testing.assert_allclose(jax.jit(bnm)(z), ref_bnm(z), rtol=RTOL)


def test_bnm_closed_forms():
    # Identical rows: rank one, ||A||_* = sqrt(n) ||p||.
    p_row = np.array([0.0, 1.0, -1.0])
    z = np.tile(p_row, (4, 1))
    want = -math.sqrt(4) * np.linalg.norm(softmax(p_row)) / 4
    np.testing.assert_allclose(bnm(z), want, rtol=RTOL)
    # Confident and diverse: A ~ identity, ||A||_* ~ n.
    np.testing.assert_allclose(bnm(np.eye(3) * 60.0), -1.0, rtol=1e-6)


def test_bnm_gradients_and_vmap():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 3))
    check_grads(jax.jit(bnm), (z,), order=1, modes=("rev",))
    batched = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(jax.vmap(bnm)(batched), [ref_bnm(b) for b in batched], rtol=RTOL)


# ----------------------------------------------------------------------------- MCC


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_mcc_matches_loops(temperature):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(7, 4)) * 3
    got = mcc(z, temperature=temperature)
    np.testing.assert_allclose(got, ref_mcc(z, temperature), rtol=RTOL)
    np.testing.assert_allclose(
        jax.jit(lambda x: mcc(x, temperature=temperature))(z), got, rtol=1e-12
    )


def test_mcc_column_normalisation_gives_the_same_sum():
    # TLlib divides by the row sums through broadcasting (column-wise); same total.
    rng = np.random.default_rng(5)
    z = rng.normal(size=(6, 3))
    probs = np.stack([softmax(r / 2.5) for r in z])
    h = np.array([-(p * np.log(p)).sum() for p in probs])
    w = 1 + np.exp(-h)
    w = 6 * w / w.sum()
    conf = (probs * w[:, None]).T @ probs
    col = conf / conf.sum(axis=1)  # broadcasting: divides column k by row-sum k
    np.testing.assert_allclose(mcc(z), (col.sum() - np.trace(col)) / 3, rtol=RTOL)


def test_mcc_closed_forms():
    np.testing.assert_allclose(mcc(np.zeros((5, 4))), 3 / 4, rtol=1e-12)
    np.testing.assert_allclose(mcc(np.eye(3) * 200.0, temperature=1.0), 0.0, atol=1e-12)


def test_mcc_gradients_and_vmap():
    # The entropy weights are constants (stop_gradient, as in MCC), so the gradient
    # is that of the loss with the weights frozen at their current values: compare
    # with central differences of the loop reference with frozen weights.
    rng = np.random.default_rng(6)
    z = rng.normal(size=(5, 3))
    frozen = ref_mcc_weights(z, 2.5)
    grad = np.asarray(jax.jit(jax.grad(lambda x: mcc(x, temperature=2.5)))(z))
    h = 1e-6
    for _ in range(3):
        v = rng.normal(size=z.shape)
        fd = (ref_mcc(z + h * v, 2.5, frozen) - ref_mcc(z - h * v, 2.5, frozen)) / (2 * h)
        np.testing.assert_allclose(np.sum(grad * v), fd, rtol=1e-5, atol=1e-9)
    batched = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(
        jax.vmap(mcc)(batched), [ref_mcc(b, 2.5) for b in batched], rtol=RTOL
    )


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("fn", [entropy, bnm, mcc])
@pytest.mark.parametrize(
    ("logits", "error", "match"),
    [
        (np.zeros(4), ValueError, r"`logits` must be 2-D.*\(4,\)"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.zeros((2, 3), dtype=np.int32), TypeError, "floating"),
        (np.array([[0.0, np.inf]]), ValueError, "NaN or infinite"),
    ],
)
def test_bad_logits(fn, logits, error, match):
    with pytest.raises(error, match=match):
        fn(logits)


def test_mcc_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        mcc(np.zeros((2, 3)), temperature=0.0)
