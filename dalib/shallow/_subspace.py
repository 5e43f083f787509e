r"""Subspace alignment (SA) and the CORAL feature transform."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from jax.typing import ArrayLike

from dalib import _checks
from dalib.shallow import _base

__all__ = ["SA", "CoralTransform", "coral_transform", "subspace_alignment"]


def _pca_basis(x_centred: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` leading principal directions ``[d, dim]`` of centred rows."""
    _, _, vt = np.linalg.svd(x_centred, full_matrices=False)
    return vt[:dim].T


def subspace_alignment(
    source: ArrayLike, target: ArrayLike, *, dim: int = 100, center: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    r"""Subspace alignment: map the source PCA basis onto the target PCA basis.

    With :math:`P_s, P_t` (``d x k``) the ``k`` leading principal directions of
    each domain, the alignment :math:`M = P_s^\top P_t` minimises
    :math:`\|P_s M - P_t\|_F`, and

    .. math::

       Z_s = \bar X_s P_s M = \bar X_s P_s P_s^\top P_t, \qquad Z_t = \bar X_t P_t,

    where :math:`\bar X` is each domain centred on its own mean (``center=True``;
    the subspaces describe centred data) or left as is. The result is invariant
    to the sign of each principal direction.

    Args:
      source: ``[n, d]``.
      target: ``[m, d]``.
      dim: subspace size ``k``, clipped to the rank available
        (``min(d, n - 1, m - 1)`` when centring).
      center: centre each domain on its own mean first.

    Returns:
      ``(source_aligned [n, k], target_projected [m, k])``.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> zs, zt = subspace_alignment(rng.normal(size=(30, 5)), rng.normal(size=(20, 5)), dim=2)
      >>> zs.shape, zt.shape
      ((30, 2), (20, 2))

    References:
      Fernando, Habrard, Sebban & Tuytelaars, "Unsupervised Visual Domain
      Adaptation Using Subspace Alignment", ICCV 2013.
    """
    xs, xt = _base.as_features(source, "source"), _base.as_features(target, "target")
    _checks.check_same_features(xs, xt, "source", "target")
    _base.check_positive_int(dim, "dim")
    if center:
        _checks.check_min_samples(xs, "source", 2, "centred subspace alignment")
        _checks.check_min_samples(xt, "target", 2, "centred subspace alignment")
        xs = xs - xs.mean(axis=0)
        xt = xt - xt.mean(axis=0)
    offset = 1 if center else 0
    k = min(dim, xs.shape[1], xs.shape[0] - offset, xt.shape[0] - offset)
    ps, pt = _pca_basis(xs, k), _pca_basis(xt, k)
    return xs @ ps @ (ps.T @ pt), xt @ pt


def _apply_matrix_function(x: np.ndarray, data: np.ndarray, reg: float, power: float) -> np.ndarray:
    r"""``x @ (cov(data) + reg I) ** power`` without forming a ``d x d`` matrix.

    With the thin SVD of the centred data, :math:`\operatorname{cov} = V
    \operatorname{diag}(e) V^\top` (rank ``r <= min(n, d)``), so
    :math:`(\operatorname{cov} + \lambda I)^p = \lambda^p I + V \operatorname{diag}
    ((e + \lambda)^p - \lambda^p) V^\top`: exact, in :math:`O(n d \min(n, d))`.
    """
    centred = data - data.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    eig = s * s / (data.shape[0] - 1)
    gain = (eig + reg) ** power - reg**power
    return reg**power * x + ((x @ vt.T) * gain) @ vt


def coral_transform(source: ArrayLike, target: ArrayLike, *, reg: float = 1.0) -> np.ndarray:
    r"""CORAL: whiten the source with its covariance, re-colour with the target's.

    .. math::

       C_s = \operatorname{cov}(X_s) + \lambda I, \quad
       C_t = \operatorname{cov}(X_t) + \lambda I, \qquad
       X_s^\ast = X_s\, C_s^{-1/2}\, C_t^{1/2},

    with unbiased covariances (``n - 1``). The target is left unchanged; a
    classifier trained on :math:`X_s^\ast` is applied to :math:`X_t`. Means are
    not moved: the paper normalises each domain to zero mean and unit variance
    first, which :class:`CoralTransform` does by default. Computed from thin SVDs,
    never forming a ``d x d`` matrix, so ``d`` in the tens of thousands is cheap.

    Args:
      source: ``[n, d]``, ``n >= 2``.
      target: ``[m, d]``, ``m >= 2``.
      reg: :math:`\lambda > 0` (the paper's ``eye(d)``: 1).

    Returns:
      ``source_transformed [n, d]``.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(500, 2)); xt = rng.normal(size=(500, 2)) * [3.0, 1.0]
      >>> out = coral_transform(xs, xt, reg=1e-3)
      >>> # the source now has the target's covariance (up to the tiny regulariser)
      >>> bool(np.allclose(np.cov(out.T), np.cov(xt.T), atol=1e-2))
      True

    References:
      Sun, Feng & Saenko, "Return of Frustratingly Easy Domain Adaptation",
      AAAI 2016.
    """
    xs, xt = _base.as_features(source, "source"), _base.as_features(target, "target")
    _checks.check_same_features(xs, xt, "source", "target")
    _checks.check_min_samples(xs, "source", 2, "a covariance")
    _checks.check_min_samples(xt, "target", 2, "a covariance")
    _base.check_positive(reg, "reg")
    whitened = _apply_matrix_function(xs, xs, reg, -0.5)
    return _apply_matrix_function(whitened, xt, reg, 0.5)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SA(_base.ShallowMethod):
    r"""Subspace alignment baseline: :func:`subspace_alignment`, then the classifier.

    Args:
      dim: subspace size (clipped to the rank available).
      center: centre each domain on its own mean first.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(40, 6)); ys = (xs[:, 0] > 0).astype(int)
      >>> preds, scores = SA(dim=3).fit_predict(xs, ys, rng.normal(size=(25, 6)))
      >>> preds.shape, scores.shape
      ((25,), (25, 2))
    """

    name: ClassVar[str] = "sa"

    dim: int = 100
    center: bool = True

    def _check_options(self) -> None:
        _base.check_positive_int(self.dim, "dim")

    def _adapt(self, source, source_labels, target, num_classes):
        return subspace_alignment(source, target, dim=self.dim, center=self.center)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CoralTransform(_base.ShallowMethod):
    r"""CORAL baseline: :func:`coral_transform` on the source, then the classifier.

    The default preprocessing is ``standardize="per_domain"``, as in the paper
    (each domain to zero mean, unit variance; CORAL then aligns the
    covariances).

    Args:
      reg: :math:`\lambda` added to both covariances.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(40, 6)); ys = (xs[:, 0] > 0).astype(int)
      >>> preds, _ = CoralTransform().fit_predict(xs, ys, rng.normal(size=(25, 6)))
      >>> preds.shape
      (25,)
    """

    name: ClassVar[str] = "coral_transform"

    standardize: str = "per_domain"
    reg: float = 1.0

    def _check_options(self) -> None:
        _base.check_positive(self.reg, "reg")

    def _adapt(self, source, source_labels, target, num_classes):
        return coral_transform(source, target, reg=self.reg), target
