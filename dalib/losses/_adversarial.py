r"""Adversarial alignment: DANN, CDAN(+E), MDD, MCD and transferability attention.

Every function here is a pure function of network *outputs* (discriminator
logits, class logits or probabilities, features); the networks themselves and
the :func:`dalib.ops.gradient_reversal` that sits between features and
discriminator belong to the training code. With a gradient reversal layer one
minimisation of ``task_loss + domain_adversarial(...)`` trains the discriminator
to separate the domains and the feature extractor to confuse it.

Conventions for per-sample weights, shared by :func:`domain_adversarial` and
:func:`entropy_weights`: a weight multiplies that sample's loss, and each domain's
weighted losses are *averaged over its samples*,
:math:`\frac1n\sum_i w_i \ell_i` (PyTorch's ``binary_cross_entropy(weight=…)``,
as TLlib uses it). Weights with mean 1 therefore leave the loss scale unchanged;
:func:`entropy_weights` returns weights of mean 1 (jointly or per domain).
``normalize_weights=True`` switches to the self-normalised mean
:math:`\sum_i w_i \ell_i / \sum_i w_i`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks

__all__ = [
    "cdan_features",
    "classifier_discrepancy",
    "domain_accuracy",
    "domain_adversarial",
    "entropy_weights",
    "mdd",
    "transferability_attention",
]

_NORMALIZE = ("joint", "per_domain")


def _disc_logits(x: ArrayLike, name: str) -> jax.Array:
    """Discriminator logits ``[n]`` or ``[n, 1]`` as a float ``[n]``."""
    x = _checks.as_float(x, name, ndim=(1, 2))
    if x.ndim == 2 and x.shape[1] != 1:
        raise ValueError(
            f"`{name}` must hold one discriminator logit per sample, [n] or [n, 1], got "
            f"shape {tuple(x.shape)}; a discriminator with several outputs per sample is "
            "a per-region discriminator (see `transferability_attention`)."
        )
    _checks.check_nonempty(x, name)
    _checks.check_finite(x, name)
    return x.reshape(-1)


def _class_scores(x: ArrayLike, name: str) -> jax.Array:
    """Class logits or probabilities ``[n, C]``: float, 2-D, non-empty, finite."""
    x = _checks.as_float(x, name, ndim=2)
    _checks.check_nonempty(x, name)
    _checks.check_finite(x, name)
    return x


def _same_shape(a: jax.Array, b: jax.Array, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same shape, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}."
        )


def _weighted_mean(
    losses: jax.Array, weights: jax.Array | None, normalize_weights: bool
) -> jax.Array:
    if weights is None:
        return jnp.mean(losses)
    weights = weights.astype(losses.dtype)
    if normalize_weights:
        return jnp.sum(weights * losses) / jnp.sum(weights)
    return jnp.mean(weights * losses)


def domain_adversarial(
    source_logits: ArrayLike,
    target_logits: ArrayLike,
    *,
    source_weights: ArrayLike | None = None,
    target_weights: ArrayLike | None = None,
    average_domains: bool = False,
    normalize_weights: bool = False,
) -> jax.Array:
    r"""Domain-adversarial (DANN) loss from domain-discriminator logits.

    The binary cross-entropy of a discriminator :math:`D` that labels source
    samples 1 and target samples 0, computed from its logits :math:`z` with the
    stable :math:`\log\sigma(z)`:

    .. math::

        L = \frac{1}{n}\sum_{i=1}^{n} w^s_i\,\bigl(-\log\sigma(z^s_i)\bigr)
          + \frac{1}{m}\sum_{j=1}^{m} w^t_j\,\bigl(-\log(1-\sigma(z^t_j))\bigr),

    with :math:`-\log(1-\sigma(z)) = -\log\sigma(-z)`. Each domain's term is a
    mean over its own samples, so ``n != m`` weighs the domains equally. The
    default is the sum of the two terms (DANN paper); ``average_domains=True``
    halves it, as TLlib's ``DomainAdversarialLoss`` does.

    Minimised by the discriminator; the feature extractor, behind
    :func:`dalib.ops.gradient_reversal`, maximises it. Non-finite logits raise
    when concrete; under ``jit`` they give a non-finite loss.

    Args:
      source_logits: ``[n]`` or ``[n, 1]`` discriminator logits on source features.
      target_logits: ``[m]`` or ``[m, 1]`` discriminator logits on target features.
      source_weights: optional ``[n]`` per-sample weights (e.g. CDAN+E's
        :func:`entropy_weights`); see ``normalize_weights``.
      target_weights: optional ``[m]`` per-sample weights.
      average_domains: if ``True`` return :math:`\tfrac12 L` (TLlib's convention).
      normalize_weights: if ``False`` (default) each domain's term is
        :math:`\frac1n\sum_i w_i\ell_i`, so weights are expected to have mean 1
        and their scale matters (PyTorch/TLlib semantics; this is what makes
        :func:`entropy_weights` ``normalize="joint"`` meaningful). If ``True`` it is
        the self-normalised :math:`\sum_i w_i\ell_i / \sum_i w_i`.

    Returns:
      Scalar loss, :math:`\ge 0`; :math:`2\log 2` (or :math:`\log 2` when
      averaged) for a discriminator that outputs 0 everywhere.

    Raises:
      ValueError: concrete weights that are negative, non-finite, or (with
        ``normalize_weights=True``) all zero.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import domain_adversarial
      >>> round(float(domain_adversarial(jnp.zeros(4), jnp.zeros(3))), 4)
      1.3863
      >>> round(float(domain_adversarial(jnp.array([3.0, 2.0]), jnp.array([-4.0]))), 4)
      0.1059

    References:
      Ganin, Y. et al. *Domain-Adversarial Training of Neural Networks.*
      JMLR 17(59), 2016.
    """
    zs = _disc_logits(source_logits, "source_logits")
    zt = _disc_logits(target_logits, "target_logits")
    ws = _checks.check_weights(source_weights, zs, "source_weights", "source_logits")
    wt = _checks.check_weights(target_weights, zt, "target_weights", "target_logits")
    # Negative weights would reward the discriminator for being wrong; all-zero
    # weights make the self-normalised mean 0/0.
    minimum = 1 if normalize_weights else 0
    for w, name in ((ws, "source_weights"), (wt, "target_weights")):
        if w is not None:
            _checks.check_weight_values(w, name, min_positive=minimum)
    loss_s = _weighted_mean(-jax.nn.log_sigmoid(zs), ws, normalize_weights)
    loss_t = _weighted_mean(-jax.nn.log_sigmoid(-zt), wt, normalize_weights)
    loss = loss_s + loss_t
    return 0.5 * loss if average_domains else loss


def domain_accuracy(source_logits: ArrayLike, target_logits: ArrayLike) -> jax.Array:
    r"""Balanced accuracy of a domain discriminator (source = 1, target = 0).

    .. math::

        \tfrac12\Bigl(\tfrac1n\textstyle\sum_i [z^s_i \ge 0]
        + \tfrac1m\sum_j [z^t_j < 0]\Bigr),

    i.e. a sample is called "source" when :math:`\sigma(z) \ge 0.5`. Near 0.5 the
    discriminator cannot tell the domains apart. Not differentiable.

    Args:
      source_logits: ``[n]`` or ``[n, 1]`` discriminator logits on source samples.
      target_logits: ``[m]`` or ``[m, 1]`` discriminator logits on target samples.

    Returns:
      Scalar in :math:`[0, 1]`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import domain_accuracy
      >>> float(domain_accuracy(jnp.array([1.0, -1.0]), jnp.array([-2.0, -3.0, 0.5, -1.0])))
      0.625
    """
    zs = _disc_logits(source_logits, "source_logits")
    zt = _disc_logits(target_logits, "target_logits")
    dtype = jnp.result_type(zs.dtype, zt.dtype)
    acc_s = jnp.mean((zs >= 0).astype(dtype))
    acc_t = jnp.mean((zt < 0).astype(dtype))
    return 0.5 * (acc_s + acc_t)


def cdan_features(
    features: ArrayLike,
    probs: ArrayLike,
    *,
    randomized: bool = False,
    out_dim: int = 1024,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""CDAN's conditioning map: what the domain discriminator sees.

    The multilinear map is the flattened outer product of the class
    probabilities :math:`g` and the features :math:`f`:

    .. math::

        T_\otimes(f, g)_{c F + k} = g_c\, f_k,
        \qquad c = 0..C-1,\; k = 0..F-1,

    an ``[n, C·F]`` array (class-major: the first ``F`` columns are
    :math:`g_0 f`). When :math:`C F` is large, the randomized map

    .. math::

        T_\odot(f, g) = \frac{(f R_f) \odot (g R_g)}{\sqrt{d}}

    with fixed Gaussian :math:`R_f \in \mathbb{R}^{F\times d}`,
    :math:`R_g \in \mathbb{R}^{C\times d}` (:math:`d` = ``out_dim``) approximates
    it in :math:`d` dimensions. The matrices are drawn from ``key`` as
    ``kf, kg = jax.random.split(key)``, ``R_f = jax.random.normal(kf, (F, d))``,
    ``R_g = jax.random.normal(kg, (C, d))``: pass the *same* key at every step
    so that they stay fixed during training.

    As in CDAN, :math:`g` is treated as a constant (``stop_gradient``):
    gradients reach the features only. Feed the result, through
    :func:`dalib.ops.gradient_reversal`, to the discriminator and its logits to
    :func:`domain_adversarial` (with :func:`entropy_weights` for CDAN+E).

    Args:
      features: ``[n, F]`` features :math:`f`.
      probs: ``[n, C]`` class probabilities :math:`g` (softmax of the classifier).
      randomized: use the randomized map :math:`T_\odot`.
      out_dim: :math:`d`, the output size of the randomized map (1024 in CDAN).
      key: PRNG key for :math:`R_f, R_g`; required when ``randomized=True`` and
        ignored otherwise.

    Returns:
      ``[n, C·F]`` (multilinear) or ``[n, out_dim]`` (randomized).

    Raises:
      ValueError: on bad ranks, a different number of rows in ``features`` and
        ``probs``, ``randomized=True`` without ``key``, or ``out_dim < 1``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from dalib.losses import cdan_features
      >>> cdan_features(jnp.array([[1.0, 2.0, 3.0]]), jnp.array([[0.25, 0.75]]))
      Array([[0.25, 0.5 , 0.75, 0.75, 1.5 , 2.25]], dtype=float32)
      >>> h = cdan_features(jnp.ones((5, 8)), jnp.full((5, 3), 1 / 3), randomized=True,
      ...                   out_dim=16, key=jax.random.key(0))
      >>> h.shape
      (5, 16)

    References:
      Long, M., Cao, Z., Wang, J. and Jordan, M. I. *Conditional Adversarial
      Domain Adaptation.* NeurIPS 2018.
    """
    f = _class_scores(features, "features")
    g = _class_scores(probs, "probs")
    _checks.check_leading(f, g, "features", "probs")
    g = jax.lax.stop_gradient(g)
    n, num_features = f.shape
    num_classes = g.shape[1]
    if not randomized:
        return (g[:, :, None] * f[:, None, :]).reshape(n, num_classes * num_features)
    if key is None:
        raise ValueError(
            "`cdan_features(..., randomized=True)` needs `key`: the random matrices R_f "
            "and R_g are drawn from it. Pass the same key at every step, e.g. "
            "`key=jax.random.key(0)`."
        )
    if isinstance(out_dim, bool) or not isinstance(out_dim, (int, np.integer)) or out_dim < 1:
        raise ValueError(f"`out_dim` must be a positive int, got {out_dim!r}.")
    dtype = jnp.result_type(f.dtype, g.dtype)
    key_f, key_g = jax.random.split(key)
    r_f = jax.random.normal(key_f, (num_features, out_dim), dtype=dtype)
    r_g = jax.random.normal(key_g, (num_classes, out_dim), dtype=dtype)
    hi = jax.lax.Precision.HIGHEST
    proj_f = jnp.matmul(f, r_f, precision=hi)
    proj_g = jnp.matmul(g, r_g, precision=hi)
    return proj_f * proj_g / math.sqrt(out_dim)


def _prob_entropy(p: jax.Array) -> jax.Array:
    return jnp.sum(jax.scipy.special.entr(p), axis=-1)


def entropy_weights(
    probs: ArrayLike | Sequence[ArrayLike], *, normalize: str = "joint"
) -> jax.Array | tuple[jax.Array, jax.Array]:
    r"""CDAN+E's entropy-conditioning weights :math:`1 + e^{-H(g)}`, normalised to mean 1.

    .. math::

        \tilde w_i = 1 + e^{-H(g_i)}, \qquad H(g) = -\sum_c g_c \log g_c,
        \qquad w_i = \frac{N\,\tilde w_i}{\sum_{k=1}^{N} \tilde w_k},

    so confident predictions (low entropy) count up to twice as much as
    uncertain ones. The sum runs over the set that is normalised:

    * ``"joint"``: the whole batch, source and target together (TLlib's
      ``ConditionalDomainAdversarialLoss``); the weights sum to :math:`n + m`,
      so one domain may carry more total weight than the other.
    * ``"per_domain"``: source and target separately; each domain's weights sum
      to its own size.

    Either way the weights have mean 1 over what was normalised, the scale
    :func:`domain_adversarial` expects with its default
    ``normalize_weights=False``. The weights are constants (``stop_gradient``),
    as in CDAN.

    Args:
      probs: either ``[N, C]`` class probabilities of one batch, or a pair
        ``(source_probs [n, C], target_probs [m, C])``. ``"per_domain"`` needs the
        pair.
      normalize: ``"joint"`` or ``"per_domain"``.

    Returns:
      ``[N]`` weights for an array input, or the pair ``(source_weights [n],
      target_weights [m])`` for a pair input, ready for :func:`domain_adversarial`.

    Raises:
      ValueError: on an unknown ``normalize``, ``"per_domain"`` with a single
        array, bad ranks, a different number of classes in the pair, or concrete
        inputs that are not probabilities (entries outside [0, 1], rows not
        summing to 1: pass softmax outputs, not logits).

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import entropy_weights
      >>> ps = jnp.array([[1.0, 0.0], [0.5, 0.5]])
      >>> pt = jnp.array([[0.5, 0.5]])
      >>> ws, wt = entropy_weights((ps, pt))  # raw weights 2, 1.5 | 1.5
      >>> [round(float(w), 4) for w in ws], [round(float(w), 4) for w in wt]
      ([1.2, 0.9], [0.9])
      >>> ws, wt = entropy_weights((ps, pt), normalize="per_domain")
      >>> [round(float(w), 4) for w in ws], [round(float(w), 4) for w in wt]
      ([1.1429, 0.8571], [1.0])

    References:
      Long, M., Cao, Z., Wang, J. and Jordan, M. I. *Conditional Adversarial
      Domain Adaptation.* NeurIPS 2018, Section 3.3.
    """
    _checks.check_choice(normalize, "normalize", _NORMALIZE)
    is_pair = isinstance(probs, (tuple, list))
    if is_pair:
        if len(probs) != 2:
            raise ValueError(
                "`probs` must be one [N, C] array or a pair (source_probs, target_probs), "
                f"got a sequence of length {len(probs)}."
            )
        ps = _class_scores(probs[0], "source_probs")
        pt = _class_scores(probs[1], "target_probs")
        _checks.check_same_features(ps, pt, "source_probs", "target_probs")
        parts = [ps, pt]
    else:
        if normalize == "per_domain":
            raise ValueError(
                '`normalize="per_domain"` needs the two domains apart: pass '
                "`probs=(source_probs, target_probs)`."
            )
        parts = [_class_scores(probs, "probs")]
    names = ("source_probs", "target_probs") if is_pair else ("probs",)
    for p, name in zip(parts, names, strict=True):
        _checks.check_probability_values(p, name)

    raw = [1.0 + jnp.exp(-_prob_entropy(jax.lax.stop_gradient(p))) for p in parts]
    if normalize == "per_domain":
        out = [w * (w.shape[0] / jnp.sum(w)) for w in raw]
    else:
        total = sum(jnp.sum(w) for w in raw)
        count = sum(w.shape[0] for w in raw)
        out = [w * (count / total) for w in raw]
    return (out[0], out[1]) if is_pair else out[0]


def mdd(
    source_logits: ArrayLike,
    source_adv_logits: ArrayLike,
    target_logits: ArrayLike,
    target_adv_logits: ArrayLike,
    *,
    margin: float = 4.0,
) -> jax.Array:
    r"""Margin disparity discrepancy (MDD) for classification.

    With :math:`\hat y = \arg\max` of the main classifier's logits (a constant)
    and :math:`q = \operatorname{softmax}` of the adversarial head's logits,

    .. math::

        D_\gamma = \gamma\,\frac1n\sum_{i=1}^n \log q^s_i[\hat y^s_i]
          + \frac1m\sum_{j=1}^m \log\!\bigl(\min(1 - q^t_j[\hat y^t_j] + 10^{-6},\,1)\bigr),

    i.e. :math:`-\gamma\,\mathrm{CE}(q^s, \hat y^s)` on the source plus
    :math:`\log(1 - q^t[\hat y^t])` on the target (the shifted, clipped log of
    TLlib's ``shift_log``, which keeps the gradient finite when
    :math:`q^t[\hat y^t] \to 1`). :math:`D_\gamma \le 0`.

    Who optimises what (the minimax problem of Zhang et al.): the adversarial head
    *maximises* :math:`D_\gamma` (agree with the main classifier on the source,
    disagree on the target); the feature extractor *minimises* it. In one
    minimisation, put :func:`dalib.ops.gradient_reversal` between features and
    adversarial head and add :math:`-D_\gamma`:
    ``loss = task_loss - trade_off * mdd(...)``: the head descends on
    :math:`-D_\gamma` and the reversed gradient makes the features descend on
    :math:`D_\gamma` (TLlib: ``transfer_loss = -mdd(...)``). The main logits get
    no gradient from this loss.

    Args:
      source_logits: ``[n, C]`` main-classifier logits on the source.
      source_adv_logits: ``[n, C]`` adversarial-head logits on the source.
      target_logits: ``[m, C]`` main-classifier logits on the target.
      target_adv_logits: ``[m, C]`` adversarial-head logits on the target.
      margin: :math:`\gamma \ge 0` (4 in the paper's classification experiments);
        checked when concrete.

    Returns:
      Scalar :math:`D_\gamma`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import mdd
      >>> ys, yt = jnp.array([[2.0, 0.0]]), jnp.array([[0.0, 1.0]])
      >>> round(float(mdd(ys, ys, yt, -yt, margin=4.0)), 4)
      -0.821

    References:
      Zhang, Y., Liu, T., Long, M. and Jordan, M. I. *Bridging Theory and
      Algorithm for Domain Adaptation.* ICML 2019.
    """
    _checks.check_param(margin, "margin", low=0.0)
    ys = _class_scores(source_logits, "source_logits")
    ys_adv = _class_scores(source_adv_logits, "source_adv_logits")
    yt = _class_scores(target_logits, "target_logits")
    yt_adv = _class_scores(target_adv_logits, "target_adv_logits")
    _same_shape(ys, ys_adv, "source_logits", "source_adv_logits")
    _same_shape(yt, yt_adv, "target_logits", "target_adv_logits")
    _checks.check_same_features(ys, yt, "source_logits", "target_logits")
    label_s = jnp.argmax(jax.lax.stop_gradient(ys), axis=-1)
    label_t = jnp.argmax(jax.lax.stop_gradient(yt), axis=-1)
    log_q_s = jnp.take_along_axis(jax.nn.log_softmax(ys_adv), label_s[:, None], axis=-1)
    q_t = jnp.take_along_axis(jax.nn.softmax(yt_adv), label_t[:, None], axis=-1)
    source_term = margin * jnp.mean(log_q_s)
    target_term = jnp.mean(jnp.log(jnp.minimum(1.0 - q_t + 1e-6, 1.0)))
    return source_term + target_term


def classifier_discrepancy(p1: ArrayLike, p2: ArrayLike) -> jax.Array:
    r"""MCD's discrepancy between two classifiers' probabilities.

    .. math::

        d(p^1, p^2) = \frac{1}{n C}\sum_{i=1}^{n}\sum_{c=1}^{C} |p^1_{ic} - p^2_{ic}|.

    In MCD the two classifiers maximise it on target samples (step B) and the
    feature extractor minimises it (step C).

    Args:
      p1: ``[n, C]`` class probabilities of the first classifier.
      p2: ``[n, C]`` class probabilities of the second classifier.

    Returns:
      Scalar, :math:`\ge 0`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import classifier_discrepancy
      >>> float(classifier_discrepancy(jnp.array([[0.9, 0.1]]), jnp.array([[0.4, 0.6]])))
      0.5

    References:
      Saito, K., Watanabe, K., Ushiku, Y. and Harada, T. *Maximum Classifier
      Discrepancy for Unsupervised Domain Adaptation.* CVPR 2018.
    """
    a = _class_scores(p1, "p1")
    b = _class_scores(p2, "p2")
    _same_shape(a, b, "p1", "p2")
    return jnp.mean(jnp.abs(a - b))


def transferability_attention(
    discriminator_logits: ArrayLike, *, stop_gradient: bool = True
) -> jax.Array:
    r"""Transferability attention :math:`1 + H(\hat d)` from discriminator logits.

    For a domain discriminator's output :math:`\hat d = \sigma(z)`,

    .. math::

        a = 1 + H(\hat d), \qquad
        H(\hat d) = -\hat d\log\hat d - (1-\hat d)\log(1-\hat d)
        = \operatorname{softplus}(z) - z\,\sigma(z),

    in :math:`[1, 1 + \log 2]`. A region (or sample) whose discriminator is
    unsure (:math:`\hat d \approx 0.5`, high entropy) is well aligned, i.e.
    transferable, and is emphasised; the leading 1 is a residual connection that
    keeps every region in play. TANN applies it per region, with one
    discriminator per brain region (here: per facial region or frequency band),
    to the region's features (local attention), and with the sample-level
    discriminator to whole samples (global attention). Computed stably from the
    logits.

    Args:
      discriminator_logits: ``[n]``, ``[n, 1]`` (sample-level) or ``[n, R]``
        (one logit per region) discriminator logits.
      stop_gradient: treat the attention as a constant (default), so the
        networks cannot raise their weight by moving the discriminator.

    Returns:
      Attention weights with the shape of ``discriminator_logits``; multiply the
      ``[n, R, d]`` region features by ``a[..., None]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from dalib.losses import transferability_attention
      >>> transferability_attention(jnp.array([[0.0, 10.0]])).round(4)
      Array([[1.6931, 1.0005]], dtype=float32)

    References:
      Li, Y., Fu, B., Li, F., Shi, G. and Zheng, W. *A Novel Transferability
      Attention Neural Network Model for EEG Emotion Recognition.*
      Neurocomputing 447, 2021. Wang, X., Li, L., Ye, W., Long, M. and Wang, J.
      *Transferable Attention for Domain Adaptation.* AAAI 2019.
    """
    z = _checks.as_float(discriminator_logits, "discriminator_logits", ndim=(1, 2))
    _checks.check_nonempty(z, "discriminator_logits")
    _checks.check_finite(z, "discriminator_logits")
    if stop_gradient:
        z = jax.lax.stop_gradient(z)
    return 1.0 + jax.nn.softplus(z) - z * jax.nn.sigmoid(z)
