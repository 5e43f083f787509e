r"""Bounds on mutual information from a critic or a variational posterior.

Lower bounds (to maximise) take a critic score matrix ``scores [n, n]`` with
``scores[i, j] = f(x_i, y_j)``: the diagonal holds the positive pairs, drawn from
the joint :math:`p(x, y)`, and the off-diagonal entries pair ``x_i`` with the
``y_j`` of another sample, which stand in for draws from the product of
marginals :math:`p(x)p(y)`. Upper bounds (to minimise) take the mean and
log-variance of a diagonal Gaussian :math:`q(y \mid x)`.

Every function is pure: critics and posterior networks live in :mod:`dalib.nn`
and only produce the arrays used here. MINE's moving average is carried
explicitly as a :class:`MineState` in and out.

References:
  Poole et al., "On Variational Bounds of Mutual Information", ICML 2019.
  Belghazi et al., "Mutual Information Neural Estimation", ICML 2018.
  Cheng et al., "CLUB: A Contrastive Log-ratio Upper Bound of Mutual
  Information", ICML 2020.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from dalib import _checks

__all__ = [
    "MineState",
    "club",
    "dv",
    "gaussian_log_likelihood",
    "infonce",
    "mine",
    "mine_init",
    "nwj",
    "vclub",
]


# --------------------------------------------------------------------------- checks


def _scores(scores: ArrayLike) -> jax.Array:
    s = _checks.as_float(scores, "scores", ndim=2)
    if s.shape[0] != s.shape[1]:
        raise ValueError(
            "`scores` must be a square critic matrix [n, n] with scores[i, j] = f(x_i, y_j), "
            f"got shape {tuple(s.shape)}."
        )
    _checks.check_min_samples(s, "scores", 2, "a bound with negative (off-diagonal) pairs")
    _checks.check_finite(s, "scores")
    return s


def _posterior(
    mu: ArrayLike, log_var: ArrayLike, y: ArrayLike
) -> tuple[jax.Array, jax.Array, jax.Array]:
    mu = _checks.as_float(mu, "mu", ndim=2)
    log_var = _checks.as_float(log_var, "log_var", ndim=2)
    y = _checks.as_float(y, "y", ndim=2)
    if not (mu.shape == log_var.shape == y.shape):
        raise ValueError(
            "`mu`, `log_var` and `y` must all have shape [n, d], got shapes "
            f"{tuple(mu.shape)}, {tuple(log_var.shape)} and {tuple(y.shape)}."
        )
    _checks.check_nonempty(y, "y")
    for name, value in (("mu", mu), ("log_var", log_var), ("y", y)):
        _checks.check_finite(value, name)
    return mu, log_var, y


def _log_mean_exp_offdiag(scores: jax.Array) -> jax.Array:
    """``log mean_{i != j} exp(scores[i, j])``, computed stably."""
    n = scores.shape[0]
    off = 1.0 - jnp.eye(n, dtype=scores.dtype)
    return jax.nn.logsumexp(scores, b=off) - math.log(n * (n - 1))


# --------------------------------------------------------------------------- lower bounds


def infonce(scores: ArrayLike) -> jax.Array:
    r"""InfoNCE lower bound on :math:`I(X; Y)` from a critic score matrix.

    .. math::
       I_{\mathrm{NCE}} = \frac1n \sum_{i=1}^n
       \log \frac{e^{f(x_i, y_i)}}{\sum_{j=1}^n e^{f(x_i, y_j)}} + \log n,

    i.e. ``mean(diag(log_softmax(scores, axis=1))) + log n``: each row is a
    classification of the true partner :math:`y_i` among all ``n`` candidates
    (diagonal included). The bound never exceeds :math:`\log n`, so large MI
    needs large batches; its variance is low.

    Args:
      scores: ``[n, n]`` critic values ``f(x_i, y_j)``, positives on the
        diagonal, ``n >= 2``.

    Returns:
      Scalar lower bound in nats (maximise it). Non-finite scores raise when
      concrete and propagate under ``jit``.

    Examples:
      >>> import jax.numpy as jnp
      >>> round(float(infonce(jnp.array([[2.0, 0.0], [0.0, 2.0]]))), 4)
      0.5662

    References:
      van den Oord et al., "Representation Learning with Contrastive Predictive
      Coding", 2018. Poole et al., "On Variational Bounds of Mutual Information",
      ICML 2019.
    """
    s = _scores(scores)
    n = s.shape[0]
    return jnp.mean(jnp.diagonal(jax.nn.log_softmax(s, axis=1))) + math.log(n)


def nwj(scores: ArrayLike) -> jax.Array:
    r"""NWJ (f-GAN / MINE-f) lower bound on :math:`I(X; Y)`.

    .. math::
       I_{\mathrm{NWJ}} = \mathbb{E}_{p(x,y)}[f] - e^{-1}\,\mathbb{E}_{p(x)p(y)}[e^{f}]
       \approx \frac1n \sum_i f(x_i, y_i)
       - \frac{e^{-1}}{n(n-1)} \sum_{i \ne j} e^{f(x_i, y_j)}.

    This is the convention of Poole et al. (their ``tuba`` bound on
    ``scores - 1``): the optimal critic is :math:`1 + \log p(y|x)/p(y)`. The
    marginal expectation uses the ``n(n-1)`` **off-diagonal** pairs only, so it
    is unbiased for independent pairs. Unlike InfoNCE the bound is not capped at
    :math:`\log n`, at the price of high variance.

    Args:
      scores: ``[n, n]`` critic values, positives on the diagonal, ``n >= 2``.

    Returns:
      Scalar lower bound in nats (maximise it).

    Examples:
      >>> import jax.numpy as jnp
      >>> round(float(nwj(jnp.array([[2.0, 0.0], [0.0, 2.0]]))), 4)
      1.6321

    References:
      Nguyen, Wainwright & Jordan, "Estimating Divergence Functionals and the
      Likelihood Ratio by Convex Risk Minimization", IEEE Trans. Inf. Theory 2010.
      Nowozin et al., "f-GAN", NeurIPS 2016. Poole et al., ICML 2019.
    """
    s = _scores(scores)
    joint = jnp.mean(jnp.diagonal(s))
    return joint - jnp.exp(_log_mean_exp_offdiag(s) - 1.0)


def dv(scores: ArrayLike) -> jax.Array:
    r"""Donsker-Varadhan lower bound on :math:`I(X; Y)` (the value MINE maximises).

    .. math::
       I_{\mathrm{DV}} = \mathbb{E}_{p(x,y)}[f] - \log \mathbb{E}_{p(x)p(y)}[e^{f}]
       \approx \frac1n \sum_i f(x_i, y_i)
       - \log \frac{1}{n(n-1)} \sum_{i \ne j} e^{f(x_i, y_j)},

    with the marginal term over the off-diagonal pairs, computed with a
    log-sum-exp. The bound is invariant to adding a constant to ``scores``. Its
    plain gradient is biased for minibatches; :func:`mine` corrects it.

    Args:
      scores: ``[n, n]`` critic values, positives on the diagonal, ``n >= 2``.

    Returns:
      Scalar lower bound in nats.

    Examples:
      >>> import jax.numpy as jnp
      >>> round(float(dv(jnp.array([[2.0, 0.0], [0.0, 2.0]]))), 4)
      2.0

    References:
      Donsker & Varadhan, "Asymptotic Evaluation of Certain Markov Process
      Expectations for Large Time IV", CPAM 1983. Belghazi et al., ICML 2018.
    """
    s = _scores(scores)
    return jnp.mean(jnp.diagonal(s)) - _log_mean_exp_offdiag(s)


class MineState(NamedTuple):
    r"""Moving average carried between :func:`mine` steps.

    ``log_moving_average`` is the log of the exponential moving average of the
    batch estimates of :math:`\mathbb{E}_{p(x)p(y)}[e^{f}]`, started at 0
    (``-inf`` in log space) and not yet bias-corrected; ``count`` (``int32``) is
    the number of updates so far, used for the bias correction.
    """

    log_moving_average: jax.Array
    count: jax.Array


def mine_init(dtype: jnp.dtype = jnp.float32) -> MineState:
    """The initial :class:`MineState`: an empty moving average.

    Args:
      dtype: float dtype of the moving average (match the scores).

    Returns:
      ``MineState(log_moving_average=-inf, count=0)``.

    Examples:
      >>> mine_init()
      MineState(log_moving_average=Array(-inf, dtype=float32), count=Array(0, dtype=int32))
    """
    return MineState(jnp.asarray(-jnp.inf, dtype=dtype), jnp.asarray(0, dtype=jnp.int32))


def mine(
    scores: ArrayLike, state: MineState, *, decay: float = 0.99
) -> tuple[jax.Array, MineState]:
    r"""MINE: the Donsker-Varadhan bound with a moving-average gradient correction.

    The value is :func:`dv`. Its minibatch gradient,
    :math:`\nabla \bar f_{\mathrm{joint}} - \nabla \hat E / \hat E` with
    :math:`\hat E = \frac{1}{n(n-1)}\sum_{i\ne j} e^{f(x_i, y_j)}`, is biased
    because :math:`\hat E` in the denominator is a noisy batch estimate. MINE
    replaces that denominator by an exponential moving average :math:`\bar E_t`:

    .. math::
       \bar E_t = \beta\,\bar E_{t-1} + (1-\beta)\,\hat E_t,\qquad
       \tilde E_t = \frac{\bar E_t}{1 - \beta^t},\qquad
       \nabla \text{(returned bound)} = \nabla \bar f_{\mathrm{joint}}
       - \frac{\nabla \hat E_t}{\tilde E_t}.

    :math:`\bar E_0 = 0` and the Adam-style correction :math:`1 - \beta^t` make the
    first step use the batch value itself (so step one has exactly the DV
    gradient) instead of an arbitrary starting value. The average is updated
    with the current batch **before** it is used, as in the reference code.

    Implementation (a stop-gradient trick, :math:`\mathrm{sg}`): with
    :math:`\ell = \log \hat E` the marginal term is computed as
    :math:`\mathrm{sg}(\ell) + \mathrm{sg}(\hat E/\tilde E)\,(\ell - \mathrm{sg}(\ell))`,
    whose value is :math:`\ell` and whose gradient is
    :math:`(\hat E/\tilde E)\nabla\ell = \nabla\hat E/\tilde E`. The moving
    average is kept in log space so large scores cannot overflow it. The state
    carries no gradient.

    Args:
      scores: ``[n, n]`` critic values, positives on the diagonal, ``n >= 2``.
      state: the :class:`MineState` from the previous step, or :func:`mine_init`.
      decay: :math:`\beta \in [0, 1)`; ``0`` gives the plain DV gradient.

    Returns:
      ``(bound, new_state)``: the DV value (scalar, maximise it; differentiate it
      for the corrected gradient) and the updated state.

    Examples:
      >>> import jax.numpy as jnp
      >>> scores = jnp.array([[2.0, 0.0], [0.0, 2.0]])
      >>> bound, state = mine(scores, mine_init())
      >>> round(float(bound), 4), int(state.count)
      (2.0, 1)

    References:
      Belghazi et al., "Mutual Information Neural Estimation", ICML 2018 (Sec. 3.2).
    """
    s = _scores(scores)
    if isinstance(decay, int | float) and not 0.0 <= decay < 1.0:
        raise ValueError(f"`decay` must lie in [0, 1), got {decay}.")
    if not isinstance(state, MineState):
        raise TypeError(
            f"`state` must be a MineState (start with mine_init()), got {type(state).__name__}."
        )
    log_avg = jnp.asarray(state.log_moving_average, dtype=s.dtype)
    count = jnp.asarray(state.count) + 1
    decay_ = jnp.asarray(decay, dtype=s.dtype)

    log_mean = _log_mean_exp_offdiag(s)
    log_mean_sg = jax.lax.stop_gradient(log_mean)
    new_log_avg = jnp.logaddexp(jnp.log(decay_) + log_avg, jnp.log1p(-decay_) + log_mean_sg)
    new_log_avg = jax.lax.stop_gradient(new_log_avg)
    log_corrected = new_log_avg - jnp.log1p(-(decay_ ** count.astype(s.dtype)))

    ratio = jnp.exp(log_mean_sg - log_corrected)
    marginal = log_mean_sg + ratio * (log_mean - log_mean_sg)
    bound = jnp.mean(jnp.diagonal(s)) - marginal
    return bound, MineState(new_log_avg, count.astype(jnp.int32))


# --------------------------------------------------------------------------- upper bounds


def gaussian_log_likelihood(mu: ArrayLike, log_var: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""Per-sample log density of ``y`` under a diagonal Gaussian :math:`q(y \mid x)`.

    .. math::
       \log q(y_i \mid x_i) = -\frac12 \sum_k \Big[\log 2\pi + s_{ik}
       + \frac{(y_{ik} - \mu_{ik})^2}{e^{s_{ik}}}\Big],\qquad s = \text{log\_var}.

    This is the learning objective of CLUB's posterior network: maximise its
    mean over a batch (minimise ``-gaussian_log_likelihood(...).mean()``) with
    respect to the network's parameters, then evaluate :func:`club`.

    Args:
      mu: ``[n, d]`` posterior means :math:`\mu(x_i)`.
      log_var: ``[n, d]`` posterior log-variances.
      y: ``[n, d]`` observed :math:`y_i`.

    Returns:
      ``[n]`` log-likelihoods in nats.

    Examples:
      >>> import jax.numpy as jnp
      >>> gaussian_log_likelihood(jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.ones((1, 1))).round(4)
      Array([-1.4189], dtype=float32)

    References:
      Cheng et al., "CLUB: A Contrastive Log-ratio Upper Bound of Mutual
      Information", ICML 2020.
    """
    mu, log_var, y = _posterior(mu, log_var, y)
    sq = (y - mu) ** 2 * jnp.exp(-log_var)
    return -0.5 * jnp.sum(math.log(2.0 * math.pi) + log_var + sq, axis=-1)


def club(mu: ArrayLike, log_var: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""CLUB: contrastive log-ratio upper bound on :math:`I(X; Y)`.

    .. math::
       I_{\mathrm{CLUB}} = \frac1n \sum_i \log q(y_i \mid x_i)
       - \frac{1}{n^2} \sum_{i,j} \log q(y_j \mid x_i),

    with the diagonal Gaussian :math:`q(y|x) = \mathcal N(\mu(x), e^{s(x)})`. The
    normalising terms (:math:`\log 2\pi` and :math:`s`) cancel between the two
    sums, leaving

    .. math::
       \frac1n \sum_i \sum_k \frac{\frac1n\sum_j (y_{jk} - \mu_{ik})^2
       - (y_{ik} - \mu_{ik})^2}{2 e^{s_{ik}}},

    where the inner mean is evaluated as
    :math:`\operatorname{var}(y_{\cdot k}) + (\bar y_k - \mu_{ik})^2` in
    :math:`O(nd)` (no ``[n, n, d]`` tensor). It is an upper bound when ``q`` is
    close to :math:`p(y|x)`; train ``q`` with :func:`gaussian_log_likelihood` and
    minimise this with respect to the features (usually with ``q``'s outputs
    held fixed for that step).

    Args:
      mu: ``[n, d]`` posterior means :math:`\mu(x_i)`.
      log_var: ``[n, d]`` posterior log-variances :math:`s(x_i)`.
      y: ``[n, d]`` the paired :math:`y_i`.

    Returns:
      Scalar estimate in nats (minimise it). Can be negative when ``q`` is poor.

    Examples:
      >>> import jax.numpy as jnp
      >>> y = jnp.array([[1.0], [-1.0]])
      >>> round(float(club(y, jnp.zeros((2, 1)), y)), 4)
      1.0

    References:
      Cheng et al., "CLUB: A Contrastive Log-ratio Upper Bound of Mutual
      Information", ICML 2020.
    """
    mu, log_var, y = _posterior(mu, log_var, y)
    precision = jnp.exp(-log_var)
    y_mean = jnp.mean(y, axis=0)
    y_var = jnp.mean((y - y_mean) ** 2, axis=0)
    positive = jnp.sum((y - mu) ** 2 * precision, axis=-1)
    negative = jnp.sum((y_var + (y_mean - mu) ** 2) * precision, axis=-1)
    return 0.5 * jnp.mean(negative - positive)


def vclub(mu: ArrayLike, log_var: ArrayLike, y: ArrayLike, *, key: jax.Array) -> jax.Array:
    r"""vCLUB: the sampled CLUB estimator, one random negative per sample.

    .. math::
       I_{\mathrm{vCLUB}} = \frac1n \sum_i \Big[\log q(y_i \mid x_i)
       - \log q(y_{\pi(i)} \mid x_i)\Big],

    with :math:`\pi` a uniformly random permutation drawn from ``key``. Since
    :math:`\pi(i)` is uniform over all ``n`` indices, its expectation over keys
    is exactly :func:`club`; each draw costs :math:`O(nd)` and works for any
    ``q``, not only Gaussians in closed form. As in :func:`club`, the
    normalising terms cancel.

    Args:
      mu: ``[n, d]`` posterior means.
      log_var: ``[n, d]`` posterior log-variances.
      y: ``[n, d]`` the paired :math:`y_i`.
      key: PRNG key for the permutation.

    Returns:
      Scalar estimate in nats (minimise it).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> y = jnp.array([[1.0], [-1.0]])
      >>> est = vclub(y, jnp.zeros((2, 1)), y, key=jax.random.key(0))
      >>> bool(est == 0.0) or bool(est == 2.0)
      True

    References:
      Cheng et al., "CLUB: A Contrastive Log-ratio Upper Bound of Mutual
      Information", ICML 2020 (the sampled estimator, Sec. 3.2).
    """
    mu, log_var, y = _posterior(mu, log_var, y)
    # With one sample the only "negative" is the positive itself: 0, not an estimate.
    _checks.check_min_samples(y, "y", 2, "a sampled negative pair")
    perm = jax.random.permutation(key, y.shape[0])
    precision = jnp.exp(-log_var)
    positive = jnp.sum((y - mu) ** 2 * precision, axis=-1)
    negative = jnp.sum((y[perm] - mu) ** 2 * precision, axis=-1)
    return 0.5 * jnp.mean(negative - positive)
