r"""Transfer component analysis (TCA) and joint distribution adaptation (JDA).

Both find a projection of the pooled data :math:`X = [X_s; X_t]` (``N = n + m``
rows) that keeps its variance and shrinks an MMD between the domains. With a
kernel matrix :math:`K` (``N x N``), the centring matrix
:math:`H = I - \tfrac1N \mathbf{1}\mathbf{1}^\top` and an MMD matrix :math:`M`,
the projection coefficients :math:`W` (``N x k``) solve

.. math::

   \min_W \operatorname{tr}(W^\top K M K W) + \mu \operatorname{tr}(W^\top W)
   \quad \text{s.t.} \quad W^\top K H K W = I,

i.e. the ``k`` leading eigenvectors of :math:`(K M K + \mu I)^{-1} K H K`, found as
the generalised symmetric eigenproblem :math:`K H K w = \phi\,(K M K + \mu I) w`
(``scipy.linalg.eigh``). The embedding is :math:`Z = K W`.

* TCA (Pan et al. 2011): :math:`M = L = e_0 e_0^\top`, :math:`e_0 = [\tfrac1n
  \mathbf{1}_n; -\tfrac1m \mathbf{1}_m]` (marginal MMD).
* JDA (Long et al. 2013): :math:`M = C\,e_0 e_0^\top + \sum_c e_c e_c^\top`, with
  :math:`e_c` holding :math:`1/n_c` on the source samples of class ``c`` and
  :math:`-1/m_c` on the target samples *pseudo-labelled* ``c`` (conditional MMD),
  and ``C`` the number of source classes; the pseudo-labels come from the
  classifier trained on the previous embedding, for ``iterations`` rounds.
  Classes missing from the source or from the pseudo-labels are left out of the
  sum (an empty class would otherwise pull the other side's mean to zero).
  With ``iterations=0`` JDA is TCA.

Scaling (what differs from a literal transcription, and why). Two rescalings
make ``mu`` mean the same thing on any corpus, kernel or feature size; neither
changes the eigenvectors for a given effective :math:`\mu`:

* :math:`K` is divided by :math:`s = \operatorname{tr}(HKH)/N`, the mean squared
  norm of the centred samples in feature space;
* :math:`M` is divided by :math:`\|M\|_F`, as in Long et al.'s reference code.

Together they solve the literal problem with :math:`\mu_\text{literal} = \mu\,s^2
\|M\|_F` (:math:`\mu\,s\,\|M\|_F` in the primal form below, where :math:`X` is
divided by :math:`\sqrt s`). The embedding is finally divided by its pooled root-mean-square
(centred), a single scalar that gives the classifier's ``C`` a fixed meaning.

``kernel="primal"`` is Long et al.'s linear variant in feature space: the same
problem with :math:`A` (``d x k``) in place of :math:`W`, :math:`X^\top M X`,
:math:`X^\top H X` (``d x d``) in place of :math:`KMK`, :math:`KHK`, and
:math:`Z = X A`; it costs :math:`O(d^3)` instead of :math:`O(N^3)`. The default
``"auto"`` takes ``"primal"`` when ``d <= N`` and the linear kernel otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import scipy.linalg
from jax.typing import ArrayLike

from dalib import _checks
from dalib.shallow import _base
from dalib.shallow._kernel import gram, median_bandwidth

__all__ = ["JDA", "TCA", "jda", "tca"]

TCA_KERNELS = ("auto", "primal", "linear", "rbf")


def _resolve_kernel(kernel: str, num_samples: int, num_features: int) -> str:
    if kernel == "auto":
        return "primal" if num_features <= num_samples else "linear"
    return kernel


def _mmd_columns(
    n: int, m: int, source_labels: np.ndarray | None, pseudo_labels: np.ndarray | None
) -> np.ndarray:
    """Columns ``E [N, k]`` with ``M = E Eᵀ`` (marginal, plus conditional if labels given)."""
    e0 = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    if pseudo_labels is None:
        return e0[:, None]
    classes = np.unique(source_labels)
    cols = [np.sqrt(float(classes.size)) * e0]
    for c in classes:
        in_s = source_labels == c
        in_t = pseudo_labels == c
        if not in_t.any():
            continue
        ec = np.zeros(n + m)
        ec[:n][in_s] = 1.0 / in_s.sum()
        ec[n:][in_t] = -1.0 / in_t.sum()
        cols.append(ec)
    return np.stack(cols, axis=1)


@dataclasses.dataclass(frozen=True)
class _Problem:
    """The parts of the eigenproblem that do not depend on ``M`` (reused by JDA)."""

    basis: np.ndarray  # [N, size]: Z = basis @ vectors; X (primal) or K (kernel form)
    scatter: np.ndarray  # [size, size]: Xᵀ H X or K H K
    rank: int  # directions available
    num_source: int


def _prepare(xs: np.ndarray, xt: np.ndarray, *, kernel: str, bandwidth: float | None) -> _Problem:
    x = np.concatenate([xs, xt])
    num, d = x.shape
    kernel = _resolve_kernel(kernel, num, d)
    if kernel == "primal":
        xc = x - x.mean(axis=0)
        scale = np.sqrt(np.mean(np.sum(xc * xc, axis=1)))  # tr(H X Xᵀ H) / N, square-rooted
        scale = scale if scale > 0 else 1.0
        x, xc = x / scale, xc / scale
        return _Problem(x, xc.T @ xc, min(d, num - 1), xs.shape[0])
    if kernel == "rbf" and bandwidth is None:
        bandwidth = median_bandwidth(x)
    k = gram(kernel, x, x, bandwidth)
    scale = (np.trace(k) - k.sum() / num) / num  # tr(HKH) / N
    k = k / (scale if scale > 0 else 1.0)
    kc = k - k.mean(axis=0)
    rank = num - 1 if kernel == "rbf" else min(d, num - 1)
    return _Problem(k, kc.T @ kc, rank, xs.shape[0])


def _solve(
    problem: _Problem, mmd_cols: np.ndarray, *, dim: int, mu: float
) -> tuple[np.ndarray, np.ndarray]:
    # ||E Eᵀ||_F = ||Eᵀ E||_F: the Frobenius norm of M without forming N x N.
    m_norm = np.linalg.norm(mmd_cols.T @ mmd_cols)
    xe = problem.basis.T @ mmd_cols  # Xᵀ E, or K E (K is symmetric)
    size = problem.scatter.shape[0]
    a = 0.5 * (problem.scatter + problem.scatter.T)
    b = xe @ xe.T / m_norm + mu * np.eye(size)
    k_dim = max(1, min(dim, problem.rank))
    _, vecs = scipy.linalg.eigh(a, b, subset_by_index=[size - k_dim, size - 1])
    z = problem.basis @ vecs[:, ::-1]
    zc = z - z.mean(axis=0)
    rms = np.sqrt(np.mean(np.sum(zc * zc, axis=1)))
    z = z / (rms if rms > 0 else 1.0)
    n = problem.num_source
    return z[:n], z[n:]


def _embed(
    xs: np.ndarray,
    xt: np.ndarray,
    mmd_cols: np.ndarray,
    *,
    dim: int,
    mu: float,
    kernel: str,
    bandwidth: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    problem = _prepare(xs, xt, kernel=kernel, bandwidth=bandwidth)
    return _solve(problem, mmd_cols, dim=dim, mu=mu)


def _check_embedding_options(dim, mu, kernel, bandwidth) -> None:
    _base.check_positive_int(dim, "dim")
    _base.check_positive(mu, "mu")
    _base.check_choice(kernel, "kernel", TCA_KERNELS)
    if bandwidth is not None:
        _base.check_positive(bandwidth, "bandwidth")


def tca(
    source: ArrayLike,
    target: ArrayLike,
    *,
    dim: int = 100,
    mu: float = 1.0,
    kernel: str = "auto",
    bandwidth: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Transfer component analysis: a shared embedding with small marginal MMD.

    Solves :math:`K H K w = \phi\,(K L K + \mu I) w` for the ``dim`` largest
    :math:`\phi` (see the module notes for the scaling of :math:`K`, :math:`L`
    and of the output).

    Args:
      source: ``[n, d]`` source features.
      target: ``[m, d]`` target features.
      dim: number of components (clipped to the rank available: ``N - 1``, and
        ``d`` for a linear kernel).
      mu: trade-off :math:`\mu > 0`; small values remove the mean-shift
        directions aggressively, large values approach (kernel) PCA.
      kernel: ``"auto"``, ``"primal"`` (linear, in feature space), ``"linear"`` or
        ``"rbf"`` (kernel form, ``N x N``).
      bandwidth: Gaussian :math:`\sigma` for ``"rbf"``; default: median heuristic
        on the pooled data.

    Returns:
      ``(source_embedding [n, k], target_embedding [m, k])``, components
      ordered by decreasing :math:`\phi`.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> zs, zt = tca(rng.normal(size=(30, 5)), rng.normal(size=(20, 5)) + 3.0, dim=2)
      >>> zs.shape, zt.shape
      ((30, 2), (20, 2))
      >>> # the 3-unit mean shift is (nearly) gone from the embedding
      >>> bool(np.linalg.norm(zs.mean(0) - zt.mean(0)) < 0.2)
      True

    References:
      Pan, Tsang, Kwok & Yang, "Domain Adaptation via Transfer Component
      Analysis", IEEE TNN 22(2), 2011.
    """
    xs, xt = _base.as_features(source, "source"), _base.as_features(target, "target")
    _checks.check_same_features(xs, xt, "source", "target")
    _check_embedding_options(dim, mu, kernel, bandwidth)
    cols = _mmd_columns(xs.shape[0], xt.shape[0], None, None)
    return _embed(xs, xt, cols, dim=dim, mu=mu, kernel=kernel, bandwidth=bandwidth)


def jda(
    source: ArrayLike,
    source_labels: ArrayLike,
    target: ArrayLike,
    target_pseudo_labels: ArrayLike | None = None,
    *,
    dim: int = 100,
    mu: float = 1.0,
    kernel: str = "auto",
    bandwidth: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""One JDA embedding given target pseudo-labels (marginal + conditional MMD).

    .. math::

       M = C\,e_0 e_0^\top + \sum_{c} e_c e_c^\top, \qquad
       K H K w = \phi\,(K M K / \|M\|_F + \mu I) w .

    With ``target_pseudo_labels=None`` this is :func:`tca`. :class:`JDA` iterates
    it, refreshing the pseudo-labels with its classifier.

    Args:
      source: ``[n, d]``.
      source_labels: ``[n]`` integer classes.
      target: ``[m, d]``.
      target_pseudo_labels: ``[m]`` integer *predicted* classes, or ``None``.
      dim: as in :func:`tca`.
      mu: as in :func:`tca`.
      kernel: as in :func:`tca`.
      bandwidth: as in :func:`tca`.

    Returns:
      ``(source_embedding [n, k], target_embedding [m, k])``.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs, xt = rng.normal(size=(30, 4)), rng.normal(size=(20, 4))
      >>> ys, yt_hat = np.arange(30) % 2, np.arange(20) % 2
      >>> [z.shape for z in jda(xs, ys, xt, yt_hat, dim=3)]
      [(30, 3), (20, 3)]

    References:
      Long, Wang, Ding, Sun & Yu, "Transfer Feature Learning with Joint
      Distribution Adaptation", ICCV 2013.
    """
    xs, xt = _base.as_features(source, "source"), _base.as_features(target, "target")
    _checks.check_same_features(xs, xt, "source", "target")
    ys = _base.as_labels(source_labels, "source_labels", xs.shape[0], "source")
    yt = None
    if target_pseudo_labels is not None:
        yt = _base.as_labels(target_pseudo_labels, "target_pseudo_labels", xt.shape[0], "target")
    _check_embedding_options(dim, mu, kernel, bandwidth)
    cols = _mmd_columns(xs.shape[0], xt.shape[0], ys, yt)
    return _embed(xs, xt, cols, dim=dim, mu=mu, kernel=kernel, bandwidth=bandwidth)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TCA(_base.ShallowMethod):
    r"""TCA baseline: :func:`tca` embedding, then the linear classifier.

    Defaults (``dim=100``, ``mu=1``, a linear map: ``kernel="auto"``) follow Pan
    et al. and the public JDA/TCA code of Long et al.; ``mu`` is scale-free
    (module notes).

    Args:
      dim: components kept.
      mu: trade-off :math:`\mu`.
      kernel: ``"auto"`` | ``"primal"`` | ``"linear"`` | ``"rbf"``.
      bandwidth: Gaussian :math:`\sigma` (``None``: median heuristic).

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(40, 6)); ys = (xs[:, 0] > 0).astype(int)
      >>> preds, scores = TCA(dim=3).fit_predict(xs, ys, rng.normal(size=(25, 6)) + 1.0)
      >>> preds.shape, scores.shape
      ((25,), (25, 2))
    """

    name: ClassVar[str] = "tca"

    dim: int = 100
    mu: float = 1.0
    kernel: str = "auto"
    bandwidth: float | None = None

    def _check_options(self) -> None:
        _check_embedding_options(self.dim, self.mu, self.kernel, self.bandwidth)

    def _adapt(self, source, source_labels, target, num_classes):
        cols = _mmd_columns(source.shape[0], target.shape[0], None, None)
        return _embed(
            source,
            target,
            cols,
            dim=self.dim,
            mu=self.mu,
            kernel=self.kernel,
            bandwidth=self.bandwidth,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class JDA(_base.ShallowMethod):
    r"""JDA baseline: TCA, then ``iterations`` rounds of pseudo-label refinement.

    Round 0 is :func:`tca`; each further round trains the classifier on the
    current source embedding, pseudo-labels the target with it, and re-solves
    :func:`jda` with the class-conditional MMD terms. Defaults follow Long et
    al. (``dim=100``, ``mu=1``, ``iterations=10``).

    Args:
      dim: components kept.
      mu: trade-off :math:`\mu`.
      kernel: ``"auto"`` | ``"primal"`` | ``"linear"`` | ``"rbf"``.
      bandwidth: Gaussian :math:`\sigma` (``None``: median heuristic).
      iterations: pseudo-label rounds ``T`` (``0`` gives exactly :class:`TCA`).

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(40, 6)); ys = (xs[:, 0] > 0).astype(int)
      >>> preds, _ = JDA(dim=3, iterations=2).fit_predict(xs, ys, rng.normal(size=(25, 6)))
      >>> preds.shape
      (25,)
    """

    name: ClassVar[str] = "jda"

    dim: int = 100
    mu: float = 1.0
    kernel: str = "auto"
    bandwidth: float | None = None
    iterations: int = 10

    def _check_options(self) -> None:
        _check_embedding_options(self.dim, self.mu, self.kernel, self.bandwidth)
        _base.check_positive_int(self.iterations, "iterations", allow_zero=True)

    def _adapt(self, source, source_labels, target, num_classes):
        n, m = source.shape[0], target.shape[0]
        # One kernel (bandwidth included) and one scatter matrix for every round.
        problem = _prepare(source, target, kernel=self.kernel, bandwidth=self.bandwidth)
        zs, zt = _solve(problem, _mmd_columns(n, m, None, None), dim=self.dim, mu=self.mu)
        for _ in range(self.iterations):
            pseudo = self._fit(zs, source_labels).predict(zt)
            cols = _mmd_columns(n, m, source_labels, np.asarray(pseudo, dtype=np.int64))
            zs, zt = _solve(problem, cols, dim=self.dim, mu=self.mu)
        return zs, zt
