"""Tests for the adversarial losses against plain NumPy loops."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from dalib.losses import (
    cdan_features,
    classifier_discrepancy,
    domain_accuracy,
    domain_adversarial,
    entropy_weights,
    mdd,
    transferability_attention,
)
from dalib.ops import gradient_reversal

RTOL = 1e-5


def _rng(seed):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- references


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def ref_domain_adversarial(zs, zt, ws=None, wt=None, *, average=False, normalize=False):
    ls = [-math.log(sigmoid(z)) for z in zs]
    lt = [-math.log(1.0 - sigmoid(z)) for z in zt]
    ws = [1.0] * len(zs) if ws is None else list(ws)
    wt = [1.0] * len(zt) if wt is None else list(wt)
    if normalize:
        s = sum(w * l for w, l in zip(ws, ls, strict=True)) / sum(ws)
        t = sum(w * l for w, l in zip(wt, lt, strict=True)) / sum(wt)
    else:
        s = sum(w * l for w, l in zip(ws, ls, strict=True)) / len(zs)
        t = sum(w * l for w, l in zip(wt, lt, strict=True)) / len(zt)
    return 0.5 * (s + t) if average else s + t


def ref_entropy_of_probs(p):
    return -sum(float(q) * math.log(float(q)) for q in p if q > 0)


def softmax(row):
    row = np.asarray(row, dtype=np.float64)
    e = np.exp(row - row.max())
    return e / e.sum()


def random_probs(rng, n, c):
    return np.stack([softmax(r) for r in rng.normal(size=(n, c)) * 2.0])


# ----------------------------------------------------------------------------- DANN


@pytest.mark.parametrize("shape_s, shape_t", [((7,), (4,)), ((5, 1), (9, 1)), ((6,), (3, 1))])
@pytest.mark.parametrize("average", [False, True])
def test_domain_adversarial_matches_reference(shape_s, shape_t, average):
    rng = _rng(0)
    zs = rng.normal(size=shape_s) * 3
    zt = rng.normal(size=shape_t) * 3
    got = domain_adversarial(zs, zt, average_domains=average)
    want = ref_domain_adversarial(zs.ravel(), zt.ravel(), average=average)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    np.testing.assert_allclose(
        jax.jit(lambda a, b: domain_adversarial(a, b, average_domains=average))(zs, zt), got
    )


@pytest.mark.parametrize("normalize", [False, True])
def test_domain_adversarial_weighted(normalize):
    rng = _rng(1)
    zs, zt = rng.normal(size=6), rng.normal(size=4)
    ws, wt = rng.uniform(0.2, 2.0, size=6), rng.uniform(0.2, 2.0, size=4)
    got = domain_adversarial(
        zs, zt, source_weights=ws, target_weights=wt, normalize_weights=normalize
    )
    want = ref_domain_adversarial(zs, zt, ws, wt, normalize=normalize)
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_domain_adversarial_unit_weights_and_extremes():
    rng = _rng(2)
    zs, zt = rng.normal(size=5), rng.normal(size=3)
    base = domain_adversarial(zs, zt)
    ones = domain_adversarial(zs, zt, source_weights=np.ones(5), target_weights=np.ones(3))
    np.testing.assert_allclose(ones, base, rtol=1e-12)
    # Chance discriminator: 2 log 2. Large logits stay finite (stable log-sigmoid).
    np.testing.assert_allclose(domain_adversarial(np.zeros(3), np.zeros(8)), 2 * math.log(2))
    far = domain_adversarial(np.array([-800.0]), np.array([800.0]))
    np.testing.assert_allclose(far, 1600.0, rtol=1e-12)
    assert float(domain_adversarial(np.array([800.0]), np.array([-800.0]))) == 0.0


def test_domain_adversarial_grad_and_vmap():
    rng = _rng(3)
    zs, zt = rng.normal(size=5), rng.normal(size=4)
    ws, wt = rng.uniform(0.5, 1.5, 5), rng.uniform(0.5, 1.5, 4)
    check_grads(
        jax.jit(lambda a, b: domain_adversarial(a, b, source_weights=ws, target_weights=wt)),
        (zs, zt),
        order=1,
    )
    batch_s, batch_t = rng.normal(size=(3, 5)), rng.normal(size=(3, 4))
    got = jax.vmap(domain_adversarial)(batch_s, batch_t)
    want = [ref_domain_adversarial(a, b) for a, b in zip(batch_s, batch_t, strict=True)]
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_domain_adversarial_with_grl_gives_reversed_feature_gradient():
    # d L / d z through the GRL is -lambda times the plain gradient.
    rng = _rng(4)
    zs, zt = rng.normal(size=4), rng.normal(size=6)
    plain = jax.grad(domain_adversarial)(zs, zt)
    reversed_ = jax.grad(lambda a, b: domain_adversarial(gradient_reversal(a, 0.3), b))(zs, zt)
    np.testing.assert_allclose(reversed_, -0.3 * plain, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.zeros((3, 2)), np.zeros(3)), {}, ValueError, r"source_logits.*\(3, 2\)"),
        ((np.zeros(3), np.zeros((2, 2, 1))), {}, ValueError, r"target_logits.*\(2, 2, 1\)"),
        ((np.zeros(0), np.zeros(3)), {}, ValueError, "source_logits` is empty"),
        ((np.zeros(3, dtype=int), np.zeros(3)), {}, TypeError, "source_logits"),
        ((np.array([0.0, np.nan]), np.zeros(3)), {}, ValueError, "NaN"),
        ((np.zeros(3), np.zeros(2)), {"source_weights": np.ones(4)}, ValueError, r"\(4,\)"),
        ((np.zeros(3), np.zeros(2)), {"target_weights": np.ones((2, 1))}, ValueError, "1-D"),
    ],
)
def test_domain_adversarial_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        domain_adversarial(*args, **kwargs)


def test_domain_accuracy():
    zs = np.array([1.0, 0.0, -1.0, 2.0])  # 3 of 4 called source
    zt = np.array([[-1.0], [0.5], [-0.1]])  # 2 of 3 called target
    want = 0.5 * (3 / 4 + 2 / 3)
    np.testing.assert_allclose(domain_accuracy(zs, zt), want, rtol=1e-12)
    with pytest.raises(ValueError, match="target_logits"):
        domain_accuracy(zs, np.zeros((3, 2)))


# ----------------------------------------------------------------------------- CDAN


def test_cdan_multilinear_matches_loops():
    rng = _rng(5)
    n, c, f = 4, 3, 5
    feats = rng.normal(size=(n, f))
    probs = random_probs(rng, n, c)
    got = np.asarray(cdan_features(feats, probs))
    assert got.shape == (n, c * f)
    want = np.zeros((n, c * f))
    for i in range(n):
        for ci in range(c):
            for fi in range(f):
                want[i, ci * f + fi] = probs[i, ci] * feats[i, fi]
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_cdan_randomized_matches_numpy_with_same_matrices():
    rng = _rng(6)
    n, c, f, d = 5, 3, 4, 32
    feats = rng.normal(size=(n, f))
    probs = random_probs(rng, n, c)
    key = jax.random.key(11)
    got = np.asarray(cdan_features(feats, probs, randomized=True, out_dim=d, key=key))
    # The documented draw: kf, kg = split(key); R_f ~ N(kf, (F, d)), R_g ~ N(kg, (C, d)).
    kf, kg = jax.random.split(key)
    r_f = np.asarray(jax.random.normal(kf, (f, d), dtype=jnp.float64))
    r_g = np.asarray(jax.random.normal(kg, (c, d), dtype=jnp.float64))
    want = np.zeros((n, d))
    for i in range(n):
        for k in range(d):
            pf = sum(feats[i, a] * r_f[a, k] for a in range(f))
            pg = sum(probs[i, b] * r_g[b, k] for b in range(c))
            want[i, k] = pf * pg / math.sqrt(d)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    # Same key, same map; different key, different map.
    again = jax.jit(lambda a, b: cdan_features(a, b, randomized=True, out_dim=d, key=key))(
        feats, probs
    )
    np.testing.assert_allclose(again, got, rtol=1e-12)
    other = cdan_features(feats, probs, randomized=True, out_dim=d, key=jax.random.key(12))
    assert not np.allclose(other, got)


def test_cdan_randomized_preserves_inner_products_in_expectation():
    # E[<T(f,g), T(f',g')>] = <f,f'><g,g'> for the randomized map.
    rng = _rng(7)
    feats = rng.normal(size=(2, 6))
    probs = random_probs(rng, 2, 4)
    h = cdan_features(feats, probs, randomized=True, out_dim=20000, key=jax.random.key(0))
    exact = cdan_features(feats, probs)
    np.testing.assert_allclose(h[0] @ h[1], exact[0] @ exact[1], rtol=0.1, atol=0.05)


@pytest.mark.parametrize("randomized", [False, True])
def test_cdan_gradients_flow_to_features_only(randomized):
    rng = _rng(8)
    feats = rng.normal(size=(3, 4))
    probs = random_probs(rng, 3, 2)
    key = jax.random.key(3)
    w = rng.normal(size=(3, 16 if randomized else 8))

    def loss(x, p):
        return jnp.sum(w * cdan_features(x, p, randomized=randomized, out_dim=16, key=key))

    _, gp = jax.jit(jax.grad(loss, argnums=(0, 1)))(feats, probs)
    np.testing.assert_array_equal(gp, 0.0)
    check_grads(jax.jit(lambda x: loss(x, probs)), (feats,), order=1)


def test_cdan_vmap():
    rng = _rng(9)
    feats, probs = rng.normal(size=(2, 3, 4)), rng.uniform(size=(2, 3, 2))
    got = jax.vmap(cdan_features)(feats, probs)
    for b in range(2):
        np.testing.assert_allclose(got[b], cdan_features(feats[b], probs[b]), rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((3, 4)), np.zeros((2, 2))), {}, r"features.*probs.*\(3, 4\).*\(2, 2\)"),
        ((np.zeros(4), np.zeros((4, 2))), {}, r"features.*2-D"),
        ((np.zeros((3, 4)), np.zeros((3, 2))), {"randomized": True}, "needs `key`"),
        (
            (np.zeros((3, 4)), np.zeros((3, 2))),
            {"randomized": True, "out_dim": 0, "key": jax.random.key(0)},
            "out_dim",
        ),
    ],
)
def test_cdan_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cdan_features(*args, **kwargs)


# ----------------------------------------------------------------------------- CDAN+E


def test_entropy_weights_joint_and_per_domain():
    rng = _rng(10)
    ps = random_probs(rng, 5, 3)
    ps[0] = [1.0, 0.0, 0.0]  # zero entropy: 0 log 0 = 0
    pt = random_probs(rng, 3, 3)
    raw_s = [1.0 + math.exp(-ref_entropy_of_probs(p)) for p in ps]
    raw_t = [1.0 + math.exp(-ref_entropy_of_probs(p)) for p in pt]

    total = sum(raw_s) + sum(raw_t)
    ws, wt = entropy_weights((ps, pt), normalize="joint")
    np.testing.assert_allclose(ws, [8 * w / total for w in raw_s], rtol=RTOL)
    np.testing.assert_allclose(wt, [8 * w / total for w in raw_t], rtol=RTOL)
    np.testing.assert_allclose(float(jnp.sum(ws) + jnp.sum(wt)), 8.0, rtol=1e-12)

    ws, wt = entropy_weights((ps, pt), normalize="per_domain")
    np.testing.assert_allclose(ws, [5 * w / sum(raw_s) for w in raw_s], rtol=RTOL)
    np.testing.assert_allclose(wt, [3 * w / sum(raw_t) for w in raw_t], rtol=RTOL)

    # A single array is normalised over itself; equals the joint pair concatenated.
    both = entropy_weights(np.concatenate([ps, pt]))
    np.testing.assert_allclose(both, [8 * w / total for w in raw_s + raw_t], rtol=RTOL)


def test_entropy_weights_are_constants_and_feed_domain_adversarial():
    rng = _rng(11)
    ps, pt = random_probs(rng, 4, 3), random_probs(rng, 6, 3)
    g = jax.grad(lambda p: jnp.sum(entropy_weights((p, pt))[0] ** 2))(ps)
    np.testing.assert_array_equal(g, 0.0)
    ws, wt = entropy_weights((ps, pt), normalize="per_domain")
    zs, zt = rng.normal(size=4), rng.normal(size=6)
    got = domain_adversarial(zs, zt, source_weights=ws, target_weights=wt)
    want = ref_domain_adversarial(zs, zt, np.asarray(ws), np.asarray(wt))
    np.testing.assert_allclose(got, want, rtol=RTOL)
    # Per-domain mean-1 weights make the two weight conventions agree.
    normalized = domain_adversarial(
        zs, zt, source_weights=ws, target_weights=wt, normalize_weights=True
    )
    np.testing.assert_allclose(normalized, got, rtol=1e-10)
    jitted = jax.jit(lambda a, b: entropy_weights((a, b), normalize="per_domain"))(ps, pt)
    np.testing.assert_allclose(jitted[0], ws, rtol=1e-12)
    batched = jax.vmap(entropy_weights)(np.stack([ps, ps[::-1]]))
    np.testing.assert_allclose(batched[1], entropy_weights(ps[::-1]), rtol=1e-12)


@pytest.mark.parametrize(
    ("probs", "kwargs", "match"),
    [
        (np.full((3, 2), 0.5), {"normalize": "per_domain"}, "pass `probs=\\(source_probs"),
        (np.full((3, 2), 0.5), {"normalize": "batch"}, "normalize"),
        ((np.full((3, 2), 0.5), np.full((2, 3), 1 / 3)), {}, "same feature size"),
        ((np.full((3, 2), 0.5),), {}, "length 1"),
        (np.full(3, 0.5), {}, r"`probs` must be 2-D"),
    ],
)
def test_entropy_weights_bad_input(probs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        entropy_weights(probs, **kwargs)


# ----------------------------------------------------------------------------- MDD


def ref_mdd(ys, ys_adv, yt, yt_adv, margin):
    src = 0.0
    for i in range(len(ys)):
        label = int(np.argmax(ys[i]))
        q = softmax(ys_adv[i])
        src += -math.log(q[label])  # cross-entropy
    tgt = 0.0
    for j in range(len(yt)):
        label = int(np.argmax(yt[j]))
        q = softmax(yt_adv[j])
        tgt += math.log(min(1.0 - q[label] + 1e-6, 1.0))
    return -margin * src / len(ys) + tgt / len(yt)


@pytest.mark.parametrize("margin", [1.0, 4.0])
def test_mdd_matches_reference(margin):
    rng = _rng(12)
    n, m, c = 6, 4, 3
    args = [rng.normal(size=(k, c)) * 2 for k in (n, n, m, m)]
    got = mdd(*args, margin=margin)
    np.testing.assert_allclose(got, ref_mdd(*args, margin), rtol=RTOL)
    np.testing.assert_allclose(jax.jit(lambda *a: mdd(*a, margin=margin))(*args), got, rtol=1e-12)
    assert float(got) <= 0.0


def test_mdd_gradients():
    rng = _rng(13)
    ys, ys_adv, yt, yt_adv = (rng.normal(size=s) for s in [(5, 3), (5, 3), (4, 3), (4, 3)])
    g = jax.jit(jax.grad(mdd, argnums=(0, 1, 2, 3)))(ys, ys_adv, yt, yt_adv)
    np.testing.assert_array_equal(g[0], 0.0)  # main classifier: argmax only
    np.testing.assert_array_equal(g[2], 0.0)
    check_grads(jax.jit(lambda a, b: mdd(ys, a, yt, b)), (ys_adv, yt_adv), order=1)
    batched = [rng.normal(size=(2, *s)) for s in [(5, 3), (5, 3), (4, 3), (4, 3)]]
    got = jax.vmap(mdd)(*batched)
    want = [ref_mdd(*(b[i] for b in batched), 4.0) for i in range(2)]
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_mdd_target_log_is_clipped_when_heads_agree():
    # Adversarial head fully agrees on the target: log(1 - 1 + 1e-6), finite.
    yt = np.array([[10.0, 0.0]])
    yt_adv = np.array([[200.0, 0.0]])
    ys = np.array([[1.0, 0.0]])
    got = mdd(ys, ys * 50, yt, yt_adv, margin=4.0)
    assert np.isfinite(float(got))
    np.testing.assert_allclose(got, math.log(1e-6), rtol=1e-6)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        ([(5, 3), (5, 2), (4, 3), (4, 3)], r"source_logits.*source_adv_logits"),
        ([(5, 3), (5, 3), (4, 3), (3, 3)], r"target_logits.*target_adv_logits"),
        ([(5, 3), (5, 3), (4, 2), (4, 2)], "same feature size"),
        ([(5,), (5,), (4, 3), (4, 3)], "2-D"),
    ],
)
def test_mdd_bad_shapes(shapes, match):
    with pytest.raises(ValueError, match=match):
        mdd(*(np.zeros(s) for s in shapes))


# ----------------------------------------------------------------------------- MCD


def test_classifier_discrepancy_matches_reference():
    rng = _rng(14)
    p1, p2 = random_probs(rng, 7, 4), random_probs(rng, 7, 4)
    want = sum(abs(p1[i, c] - p2[i, c]) for i in range(7) for c in range(4)) / 28
    np.testing.assert_allclose(classifier_discrepancy(p1, p2), want, rtol=RTOL)
    assert float(classifier_discrepancy(p1, p1)) == 0.0
    np.testing.assert_allclose(
        classifier_discrepancy(p1, p2), classifier_discrepancy(p2, p1), rtol=1e-12
    )
    # |.| has a kink where p1 == p2: check gradients away from it.
    q1, q2 = random_probs(_rng(22), 5, 3), random_probs(_rng(122), 5, 3)
    assert np.abs(q1 - q2).min() > 1e-3
    check_grads(jax.jit(classifier_discrepancy), (q1, q2), order=1)
    np.testing.assert_allclose(jax.jit(classifier_discrepancy)(p1, p2), want, rtol=RTOL)
    batched = jax.vmap(classifier_discrepancy)(np.stack([p1, p2]), np.stack([p2, p2]))
    np.testing.assert_allclose(batched, [want, 0.0], rtol=RTOL, atol=1e-15)
    with pytest.raises(ValueError, match=r"`p1` and `p2`.*\(7, 4\).*\(6, 4\)"):
        classifier_discrepancy(p1, p2[:6])


# ------------------------------------------------------------ transferability attention


def test_transferability_attention_matches_reference():
    rng = _rng(15)
    z = rng.normal(size=(5, 3)) * 4
    z[0, 0] = 0.0
    z[1, 1] = 60.0
    got = np.asarray(transferability_attention(z))
    want = np.zeros_like(z)
    for i in range(5):
        for r in range(3):
            d = sigmoid(z[i, r])
            h = -sum(q * math.log(q) for q in (d, 1.0 - d) if q > 0)
            want[i, r] = 1.0 + h
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(got[0, 0], 1.0 + math.log(2.0), rtol=1e-12)
    assert np.all(got >= 1.0) and np.all(got <= 1.0 + math.log(2.0) + 1e-12)
    sample_level = transferability_attention(z[:, 0])
    np.testing.assert_allclose(sample_level, want[:, 0], rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(jax.vmap(transferability_attention)(z.T), want.T, rtol=RTOL)


def test_transferability_attention_gradient_option():
    z = _rng(16).normal(size=(4, 2))
    g = jax.grad(lambda x: jnp.sum(transferability_attention(x)))(z)
    np.testing.assert_array_equal(g, 0.0)
    check_grads(jax.jit(lambda x: transferability_attention(x, stop_gradient=False)), (z,), order=1)
    with pytest.raises(ValueError, match="discriminator_logits"):
        transferability_attention(np.zeros((2, 2, 2)))
