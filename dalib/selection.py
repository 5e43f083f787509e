r"""Label-free model selection: pick hyper-parameters and checkpoints without target labels.

Each criterion is a function of arrays that returns a score with a fixed
direction (see :data:`HIGHER_IS_BETTER`); :func:`select` returns the index of
the best candidate under a criterion.

* **IWV** (Sugiyama et al. 2007) and **DEV** (You et al. 2019): the source
  validation loss re-weighted by the density ratio
  :math:`w(x) = p_t(x) / p_s(x)`, estimated by a domain classifier
  (:func:`importance_weights`). DEV adds a control variate that cancels most of
  the variance the weights bring. Lower is better.
* **SND** (Saito et al. 2021): soft neighbourhood density of the target
  predictions. Higher is better.
* **Prediction entropy**: mean entropy of the target predictions. Lower is
  better (it rewards confident models, including confidently wrong ones).
* **Reverse validation** (Zhong et al. 2010): train a classifier on the target
  with the model's pseudo-labels and score it on the labelled source
  validation split. Higher is better.

:func:`oracle_target_accuracy` reads target labels. It exists so that a runner
can report an oracle-selected number *on request*, labelled as such; it is
never a default and no other function here touches target labels.

The formula criteria (IWV, DEV, SND, entropy, the oracle) are pure JAX functions
(``jit``/``vmap`` work). The two that fit classifiers (:func:`importance_weights`,
:func:`reverse_validation`) use scikit-learn and return NumPy values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks
from dalib.shallow._base import as_features

__all__ = [
    "CRITERIA",
    "HIGHER_IS_BETTER",
    "cross_entropy_losses",
    "dev",
    "importance_weights",
    "iwv",
    "oracle_target_accuracy",
    "prediction_entropy",
    "reverse_validation",
    "select",
    "snd",
    "zero_one_losses",
]


# -------------------------------------------------------------------- jitted formulas
# Each public function checks its inputs (static shapes and dtypes), then calls one
# of these: one compilation per input shape instead of one per array operation.


@jax.jit
def _cross_entropy_core(p: jax.Array, y: jax.Array) -> jax.Array:
    return -jnp.log(jnp.take_along_axis(p, y[:, None], axis=1)[:, 0])


@jax.jit
def _zero_one_core(p: jax.Array, y: jax.Array) -> jax.Array:
    return (jnp.argmax(p, axis=1) != y).astype(p.dtype)


@jax.jit
def _iwv_core(loss: jax.Array, w: jax.Array) -> jax.Array:
    return jnp.mean(w * loss)


@jax.jit
def _dev_core(loss: jax.Array, w: jax.Array) -> jax.Array:
    weighted = w * loss
    n = loss.shape[0]
    w_c = w - jnp.mean(w)
    cov = jnp.sum((weighted - jnp.mean(weighted)) * w_c) / (n - 1)
    var = jnp.sum(w_c * w_c) / (n - 1)
    # Spread below round-off (constant weights) means no control variate: eta = 0.
    has_spread = var > 100 * jnp.finfo(w.dtype).eps * jnp.mean(w * w)
    eta = jnp.where(has_spread, -cov / jnp.where(has_spread, var, 1.0), 0.0)
    return jnp.mean(weighted) + eta * jnp.mean(w) - eta


@jax.jit
def _entropy_core(p: jax.Array) -> jax.Array:
    return jnp.mean(-jnp.sum(jax.scipy.special.xlogy(p, p), axis=1))


@jax.jit
def _snd_core(p: jax.Array, temperature: jax.Array) -> jax.Array:
    norm = jnp.sqrt(jnp.sum(p * p, axis=1, keepdims=True))
    f = p / jnp.where(norm > 0, norm, 1.0)
    sim = jnp.matmul(f, f.T, precision=jax.lax.Precision.HIGHEST) / temperature
    eye = jnp.eye(p.shape[0], dtype=bool)
    sim = jnp.where(eye, -1.0 / temperature, sim)
    log_q = jax.nn.log_softmax(sim, axis=1)
    return jnp.mean(-jnp.sum(jnp.exp(log_q) * log_q, axis=1))


# --------------------------------------------------------------------- per-sample losses


def cross_entropy_losses(probs: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Per-sample cross-entropy :math:`-\log p_i[y_i]` from probabilities.

    Args:
      probs: ``[n, C]`` class probabilities (rows sum to 1).
      labels: ``[n]`` integer classes.

    Returns:
      ``[n]`` losses (``inf`` where the true class has probability 0).

    Examples:
      >>> import jax.numpy as jnp
      >>> cross_entropy_losses(jnp.array([[0.5, 0.5], [0.9, 0.1]]), jnp.array([0, 1])).round(4)
      Array([0.6931, 2.3026], dtype=float32)
    """
    p = _checks.probs(probs, "probs")
    y = _checks.labels(labels, "labels", num_classes=p.shape[1])
    _checks.check_leading(p, y, "probs", "labels")
    return _cross_entropy_core(p, y)


def zero_one_losses(probs: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Per-sample 0-1 loss :math:`[\arg\max_c p_i[c] \ne y_i]` (as floats).

    Args:
      probs: ``[n, C]`` scores or probabilities.
      labels: ``[n]`` integer classes.

    Returns:
      ``[n]`` losses in {0, 1}.

    Examples:
      >>> import jax.numpy as jnp
      >>> zero_one_losses(jnp.array([[0.7, 0.3], [0.6, 0.4]]), jnp.array([0, 1]))
      Array([0., 1.], dtype=float32)
    """
    p = _checks.probs(probs, "probs")
    y = _checks.labels(labels, "labels", num_classes=p.shape[1])
    _checks.check_leading(p, y, "probs", "labels")
    return _zero_one_core(p, y)


# ------------------------------------------------------------------------ IWV and DEV


def _losses_and_weights(losses: ArrayLike, weights: ArrayLike | None) -> tuple[jax.Array, ...]:
    loss = _checks.as_float(losses, "source_val_losses", ndim=1)
    _checks.check_nonempty(loss, "source_val_losses")
    _checks.check_finite(loss, "source_val_losses")
    if weights is None:
        return loss, jnp.ones_like(loss)
    w = _checks.check_weights(weights, loss, "weights", "source_val_losses")
    return loss, w.astype(jnp.result_type(loss, w))


def iwv(source_val_losses: ArrayLike, weights: ArrayLike | None = None) -> jax.Array:
    r"""Importance-weighted validation risk (lower is better).

    .. math:: \hat R_\text{IWV} = \frac1n \sum_{i=1}^{n} w(x_i)\, \ell_i ,

    an unbiased estimate of the target risk when :math:`w = p_t / p_s` on the
    source validation points. With ``weights=None`` (or all ones) it is the plain
    source validation risk.

    Args:
      source_val_losses: ``[n]`` per-sample losses of the candidate on the
        held-out source validation split (e.g. :func:`zero_one_losses`).
      weights: ``[n]`` importance weights from :func:`importance_weights`.

    Returns:
      Scalar risk estimate.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(iwv(jnp.array([0.0, 1.0, 1.0]), jnp.array([2.0, 0.5, 0.5])))
      0.3333333432674408

    References:
      Sugiyama, Krauledat & Müller, "Covariate Shift Adaptation by Importance
      Weighted Cross Validation", JMLR 8, 2007.
    """
    loss, w = _losses_and_weights(source_val_losses, weights)
    return _iwv_core(loss, w)


def dev(source_val_losses: ArrayLike, weights: ArrayLike | None = None) -> jax.Array:
    r"""Deep embedded validation risk: IWV with a control variate (lower is better).

    With :math:`L_i = w_i \ell_i` and the control variate :math:`w` (whose mean
    is 1 under the source),

    .. math::

       \eta = -\frac{\widehat{\operatorname{Cov}}(L, w)}{\widehat{\operatorname{Var}}(w)},
       \qquad
       \hat R_\text{DEV} = \bar L + \eta\, \bar w - \eta ,

    (sample covariance and variance, ``n - 1``). When the weights have no spread
    (beyond round-off), :math:`\eta = 0` and DEV equals IWV. Needs ``n >= 2``.

    Args:
      source_val_losses: ``[n]`` per-sample source validation losses.
      weights: ``[n]`` importance weights (``None``: all ones).

    Returns:
      Scalar risk estimate.

    Examples:
      >>> import jax.numpy as jnp
      >>> losses, w = jnp.array([0.0, 1.0, 1.0, 0.0]), jnp.array([2.0, 1.0, 0.5, 0.9])
      >>> round(float(dev(losses, w)), 4)
      0.4078

    References:
      You, Wang, Long & Jordan, "Towards Accurate Model Selection in Deep
      Unsupervised Domain Adaptation", ICML 2019.
    """
    loss, w = _losses_and_weights(source_val_losses, weights)
    _checks.check_min_samples(loss, "source_val_losses", 2, "DEV's control variate")
    return _dev_core(loss, w)


def _standardize_pair(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(x - mean) / std for x in (train, *others)]


def importance_weights(
    source_features: ArrayLike,
    target_features: ArrayLike,
    *,
    evaluate_at: ArrayLike | None = None,
    num_folds: int = 5,
    regularization: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0),
    seed: int = 0,
) -> np.ndarray:
    r"""Density-ratio weights :math:`w(x) = p_t(x)/p_s(x)` from a domain classifier.

    A logistic regression learns :math:`P(d = t \mid x)` on source (label 0) and
    target (label 1) features, standardised with the pooled statistics; then

    .. math:: w(x) = \frac{P(d=t\mid x)}{P(d=s\mid x)} \cdot \frac{n_s}{n_t},

    with :math:`n_s, n_t` the source and target counts the classifier was fitted
    on (the prior correction). Its inverse regularisation ``C`` is chosen from
    ``regularization`` by 3-fold cross-validated log-loss of the *domain* labels
    (no class label is read).

    * ``evaluate_at=None``: weights for the rows of ``source_features``
      themselves, cross-fitted: split the source into ``num_folds`` folds and
      weight each fold with a classifier that did not see it.
    * ``evaluate_at`` given (e.g. the source *validation* features, as DEV does):
      fit on all of ``source_features`` (the training split) and the target,
      and return the weights of ``evaluate_at``.

    Args:
      source_features: ``[n, d]`` source features.
      target_features: ``[m, d]`` target features.
      evaluate_at: optional ``[k, d]`` points to weight.
      num_folds: folds for cross-fitting (``>= 2``).
      regularization: candidate values of ``C``.
      seed: seeds the fold split.

    Returns:
      ``[n]`` (or ``[k]``) positive weights, NumPy float64.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs, xt = rng.normal(size=(400, 1)), rng.normal(size=(400, 1)) + 1.0
      >>> w = importance_weights(xs, xt, evaluate_at=np.array([[-1.0], [0.5], [2.0]]))
      >>> # true ratio exp(x - 1/2): 0.22, 1.0, 4.5
      >>> bool(w[0] < 0.5 < w[1] < 2.0 < w[2])
      True

    References:
      Sugiyama, Krauledat & Müller, JMLR 2007; You et al., ICML 2019 (the
      discriminative density-ratio estimate used by DEV).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    xs = as_features(source_features, "source_features")
    xt = as_features(target_features, "target_features")
    _checks.check_same_features(xs, xt, "source_features", "target_features")
    if not isinstance(num_folds, int) or num_folds < 2:
        raise ValueError(f"`num_folds` must be an integer >= 2, got {num_folds!r}.")
    cs = [float(c) for c in regularization]
    if not cs or min(cs) <= 0:
        raise ValueError(f"`regularization` must hold positive values of C, got {cs!r}.")
    at = None
    if evaluate_at is not None:
        at = as_features(evaluate_at, "evaluate_at")
        _checks.check_same_features(xs, at, "source_features", "evaluate_at")
    else:
        _checks.check_min_samples(
            xs, "source_features", num_folds, f"{num_folds}-fold cross-fitting"
        )
    for x, name in ((xs, "source_features"), (xt, "target_features")):
        _checks.check_min_samples(x, name, 3, "the 3-fold choice of C")

    # One affine map (pooled statistics) for every fit, so weights are comparable.
    mean = np.concatenate([xs, xt]).mean(axis=0)
    std = np.concatenate([xs, xt]).std(axis=0)
    std = np.where(std > 0, std, 1.0)
    xs, xt = (xs - mean) / std, (xt - mean) / std
    at = None if at is None else (at - mean) / std

    def fit(train_s: np.ndarray, c: float):
        pooled = np.concatenate([train_s, xt])
        domain = np.concatenate([np.zeros(len(train_s)), np.ones(len(xt))])
        return LogisticRegression(C=c, max_iter=2000).fit(pooled, domain)

    # C by 3-fold cross-validated log-loss of the domain labels (no class label read).
    pooled = np.concatenate([xs, xt])
    domain = np.concatenate([np.zeros(len(xs)), np.ones(len(xt))])
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    losses = []
    for c in cs:
        total = 0.0
        for tr, te in splitter.split(pooled, domain):
            clf = LogisticRegression(C=c, max_iter=2000).fit(pooled[tr], domain[tr])
            total += log_loss(domain[te], clf.predict_proba(pooled[te]), labels=[0.0, 1.0])
        losses.append(total)
    c_best = cs[int(np.argmin(losses))]

    def weigh(train_s: np.ndarray, points: np.ndarray) -> np.ndarray:
        # The decision function is log P(t|x) - log P(s|x): its exp is the odds
        # (clipped at e^±50 so that separable domains give huge, not infinite, weights).
        odds = np.exp(np.clip(fit(train_s, c_best).decision_function(points), -50.0, 50.0))
        return odds * len(train_s) / len(xt)

    if at is not None:
        return weigh(xs, at)
    folds = np.random.default_rng(seed).permutation(len(xs)) % num_folds
    weights = np.empty(len(xs))
    for k in range(num_folds):
        held = folds == k
        weights[held] = weigh(xs[~held], xs[held])
    return weights


# ------------------------------------------------------------------ prediction criteria


def prediction_entropy(target_probs: ArrayLike) -> jax.Array:
    r"""Mean entropy of the target predictions (lower is better).

    .. math:: \hat H = -\frac1m \sum_{j} \sum_c p_{jc} \log p_{jc}

    (:math:`0 \log 0 = 0`).

    Args:
      target_probs: ``[m, C]`` target class probabilities.

    Returns:
      Scalar in :math:`[0, \log C]`.

    Examples:
      >>> import jax.numpy as jnp
      >>> round(float(prediction_entropy(jnp.array([[0.5, 0.5], [1.0, 0.0]]))), 4)
      0.3466
    """
    p = _checks.probs(target_probs, "target_probs")
    _checks.check_nonempty(p, "target_probs")
    return _entropy_core(p)


def snd(target_probs: ArrayLike, *, temperature: float = 0.05) -> jax.Array:
    r"""Soft neighbourhood density of the target predictions (higher is better).

    Rows of the softmax output are L2-normalised, :math:`f_j = p_j / \|p_j\|`;
    with similarities :math:`S_{jk} = f_j^\top f_k / \tau` whose diagonal is
    replaced by :math:`-1/\tau` (the lowest possible cosine, so a point is not
    its own neighbour), and :math:`Q = \operatorname{softmax}(S)` row-wise,

    .. math:: \mathrm{SND} = -\frac1m \sum_j \sum_{k} Q_{jk} \log Q_{jk} .

    High when every target point has many close neighbours in prediction
    space (dense, consistent clusters). Costs :math:`O(m^2)` memory. As noted
    by its authors, a model collapsing all targets to one prediction also
    scores high: pair it with a sanity check on the predicted class spread.

    Args:
      target_probs: ``[m, C]`` target class probabilities, ``m >= 2``.
      temperature: :math:`\tau > 0` (0.05 in the paper).

    Returns:
      Scalar in :math:`[0, \log(m - 1)]` (approximately).

    Examples:
      >>> import jax.numpy as jnp
      >>> # three identical predictions: each point has two equally close neighbours
      >>> round(float(snd(jnp.array([[0.9, 0.1]] * 3))), 4)
      0.6931
      >>> # two tight pairs: each point's neighbourhood is one point
      >>> pairs = jnp.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
      >>> round(float(snd(pairs)), 4)
      0.0

    References:
      Saito, Kim, Teterwak, Sclaroff, Darrell & Saenko, "Tune it the Right Way:
      Unsupervised Validation of Domain Adaptation via Soft Neighborhood
      Density", ICCV 2021.
    """
    p = _checks.probs(target_probs, "target_probs")
    _checks.check_min_samples(p, "target_probs", 2, "a neighbourhood density")
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    return _snd_core(p, temperature)


def reverse_validation(
    source_val_features: ArrayLike,
    source_val_labels: ArrayLike,
    target_features: ArrayLike,
    target_pseudo_labels: ArrayLike,
    *,
    C: float = 1.0,
) -> float:
    r"""Reverse validation accuracy (higher is better).

    A logistic regression (features standardised on the target) is trained on
    the target features with the candidate's *predicted* labels and scored on
    the labelled source validation split. A candidate whose target
    predictions are consistent with the source labelling scores high.

    Args:
      source_val_features: ``[n, d]`` held-out source features.
      source_val_labels: ``[n]`` their integer classes.
      target_features: ``[m, d]`` target features (same representation).
      target_pseudo_labels: ``[m]`` the candidate's predicted target classes.
      C: inverse regularisation of the reverse classifier.

    Returns:
      Accuracy of the reverse classifier on the source validation split. If the
      candidate predicts a single class for the whole target, the reverse
      classifier predicts that class everywhere.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(100, 2)); ys = (xs[:, 0] > 0).astype(int)
      >>> xt = rng.normal(size=(80, 2)); good = (xt[:, 0] > 0).astype(int)
      >>> reverse_validation(xs, ys, xt, good) > reverse_validation(xs, ys, xt, 1 - good)
      True

    References:
      Zhong, Fan, Yang, Verscheure & Ren, "Cross Validation Framework to Choose
      amongst Models and Datasets for Transfer Learning", ECML PKDD 2010.
    """
    from sklearn.linear_model import LogisticRegression

    xs = as_features(source_val_features, "source_val_features")
    xt = as_features(target_features, "target_features")
    _checks.check_same_features(xs, xt, "source_val_features", "target_features")
    ys = np.asarray(_checks.labels(source_val_labels, "source_val_labels"))
    yt = np.asarray(_checks.labels(target_pseudo_labels, "target_pseudo_labels"))
    _checks.check_leading(xs, ys, "source_val_features", "source_val_labels")
    _checks.check_leading(xt, yt, "target_features", "target_pseudo_labels")
    if not C > 0:
        raise ValueError(f"`C` must be > 0, got {C!r}.")
    classes = np.unique(yt)
    if classes.size == 1:
        return float(np.mean(ys == classes[0]))
    xt_std, xs_std = _standardize_pair(xt, xs)
    model = LogisticRegression(C=C, max_iter=5000).fit(xt_std, yt)
    return float(np.mean(model.predict(xs_std) == ys))


def oracle_target_accuracy(target_labels: ArrayLike, target_probs: ArrayLike) -> jax.Array:
    r"""ORACLE: target accuracy, read from the *target labels* (higher is better).

    Not a label-free criterion. It exists only so that a runner can report an
    oracle-selected result when a user asks for it, labelled as oracle; honest
    selection uses the other criteria here.

    Args:
      target_labels: ``[m]`` true target classes.
      target_probs: ``[m, C]`` target scores or probabilities.

    Returns:
      Scalar accuracy.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(oracle_target_accuracy(jnp.array([0, 1]), jnp.array([[0.9, 0.1], [0.8, 0.2]])))
      0.5
    """
    p = _checks.probs(target_probs, "target_probs")
    y = _checks.labels(target_labels, "target_labels", num_classes=p.shape[1])
    _checks.check_leading(p, y, "target_probs", "target_labels")
    return 1.0 - jnp.mean(_zero_one_core(p, y))


# ------------------------------------------------------------------------- selection

CRITERIA: dict[str, Callable[..., Any]] = {
    "iwv": iwv,
    "dev": dev,
    "snd": snd,
    "entropy": prediction_entropy,
    "reverse_validation": reverse_validation,
    "oracle_target_accuracy": oracle_target_accuracy,
}
"""Criteria by name (``oracle_target_accuracy`` reads target labels)."""

HIGHER_IS_BETTER: dict[str, bool] = {
    "iwv": False,
    "dev": False,
    "snd": True,
    "entropy": False,
    "reverse_validation": True,
    "oracle_target_accuracy": True,
}
"""The direction of each criterion in :data:`CRITERIA`."""


def _criterion(criterion: str | Callable[..., Any]) -> tuple[str, Callable[..., Any]]:
    if isinstance(criterion, str):
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; choose one of {sorted(CRITERIA)}.")
        return criterion, CRITERIA[criterion]
    for name, fn in CRITERIA.items():
        if fn is criterion:
            return name, fn
    raise ValueError(
        f"unknown criterion {criterion!r}: pass a name from {sorted(CRITERIA)} or one of "
        "those functions."
    )


def select(
    candidates: Sequence[float | ArrayLike | Mapping[str, Any]],
    criterion: str | Callable[..., Any],
) -> int:
    r"""Index of the best candidate under ``criterion``.

    Each candidate is either its score under the criterion (a number), or a
    mapping of the criterion's keyword arguments, from which the score is
    computed. The criterion's direction (:data:`HIGHER_IS_BETTER`) decides
    between the largest and the smallest score; ties go to the first
    candidate; NaN and infinite scores never win.

    Args:
      candidates: the candidates' scores or argument mappings.
      criterion: a name in :data:`CRITERIA` or one of those functions.

    Returns:
      The index of the selected candidate.

    Raises:
      ValueError: no candidates, an unknown criterion, or no finite score.

    Examples:
      >>> select([0.30, 0.25, 0.40], "dev")
      1
      >>> import jax.numpy as jnp
      >>> sharp, flat = jnp.array([[0.9, 0.1]]), jnp.array([[0.5, 0.5]])
      >>> select([{"target_probs": flat}, {"target_probs": sharp}], "entropy")
      1
    """
    name, fn = _criterion(criterion)
    if len(candidates) == 0:
        raise ValueError("`candidates` is empty; there is nothing to select from.")
    scores = []
    for cand in candidates:
        value = fn(**cand) if isinstance(cand, Mapping) else cand
        scores.append(float(np.asarray(value)))
    values = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(values)  # a NaN or infinite score is a broken one: it never wins
    if not finite.any():
        raise ValueError(f"every candidate scored NaN or infinity under {name!r}.")
    sign = 1.0 if HIGHER_IS_BETTER[name] else -1.0
    ranked = np.where(finite, sign * values, -math.inf)
    return int(np.argmax(ranked))
