"""The region-aware shallow methods ``tgsr`` and ``rstr`` as ShallowMethod classes.

The shared notation is in :mod:`dalib.shallow._region_common`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
from jax.typing import ArrayLike

from dalib.shallow import _base
from dalib.shallow._region_common import _as_groups, _groups_missing
from dalib.shallow._region_rstr import RSTRSolution, _check_rstr_options, rstr, rstr_objective
from dalib.shallow._region_tgsr import TGSRSolution, _check_tgsr_options, tgsr, tgsr_objective

__all__ = [
    "RSTR",
    "TGSR",
    "RSTRSolution",
    "TGSRSolution",
    "rstr",
    "rstr_objective",
    "tgsr",
    "tgsr_objective",
]


# ---------------------------------------------------------------------- the methods


@dataclasses.dataclass(frozen=True, kw_only=True)
class _RegionMethod(_base.ShallowMethod):
    """Shared plumbing: ``groups`` checks, regression outputs as scores, the solution."""

    needs_groups: ClassVar[bool] = True

    def _check_options(self) -> None:
        if self.classifier != "svm":
            raise ValueError(
                f"`classifier` does not apply to {self.name!r}: it classifies by the argmax of "
                f"its own regression outputs; drop the option (got {self.classifier!r})."
            )
        self._check_region_options()

    def _check_region_options(self) -> None:
        raise NotImplementedError

    def _check_groups(self, groups, source):
        if groups is None:
            raise _groups_missing(self.name)
        if np.ndim(source) != 2:
            return groups  # the feature checks that follow name the problem
        return _as_groups(groups, np.shape(source)[1], self.name)[0]

    def _solve(self, source, source_labels, target, num_classes, groups) -> Any:
        raise NotImplementedError

    def _adapt(self, source, source_labels, target, num_classes, **extra):
        solution = self._solve(source, source_labels, target, num_classes, extra["groups"])
        return solution.decision_function(source), solution.decision_function(target)

    def _predict(self, train, labels, test, num_classes):
        del train, labels, num_classes
        return np.argmax(test, axis=1).astype(np.int64), test

    def fit_solution(
        self,
        source: ArrayLike,
        source_labels: ArrayLike,
        target: ArrayLike,
        *,
        groups: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """:meth:`fit_predict` that also returns the fitted solution (one fit).

        Returns:
          ``(predictions [m], scores [m, C], solution)``: the solution is a
          :class:`TGSRSolution` / :class:`RSTRSolution` fitted on the
          *standardised* features; ``solution.region_importance`` (``[R]``) is
          what a region heat map shows (region norms for TGSR, region weights
          for RSTR).
        """
        xs, ys, xt, num_classes, extra = self._prepared(source, source_labels, target, groups)
        solution = self._solve(xs, ys, xt, num_classes, extra["groups"])
        scores = solution.decision_function(xt)
        return np.argmax(scores, axis=1).astype(np.int64), scores, solution


@dataclasses.dataclass(frozen=True, kw_only=True)
class TGSR(_RegionMethod):
    r"""TGSR as a shallow method: group-sparse transfer regression, argmax of its outputs.

    Needs the table's ``groups`` (``fit_predict(..., groups=groups)``). Scores are
    the regression outputs :math:`U^\top x + b` on the standardised target
    (decision values). :meth:`fit_solution` also returns the fitted
    :class:`TGSRSolution` (its ``region_norms`` / ``region_importance``).
    ``classifier`` and ``C`` do not apply.

    Args:
      lam, mu, gamma, scale, tol, max_iter: see :func:`tgsr`.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(40, 6)); ys = (xs[:, 0] > 0).astype(int)
      >>> groups = np.array([0, 0, 1, 1, 2, 2])
      >>> preds, scores = TGSR().fit_predict(xs, ys, rng.normal(size=(25, 6)), groups=groups)
      >>> preds.shape, scores.shape
      ((25,), (25, 2))
    """

    name: ClassVar[str] = "tgsr"

    lam: float = 1.0
    mu: float = 0.1
    gamma: float = 0.0
    scale: str = "relative"
    tol: float = 1e-4
    max_iter: int = 3000

    def _check_region_options(self) -> None:
        _check_tgsr_options(self.lam, self.mu, self.gamma, self.scale, self.tol, self.max_iter)

    def _solve(self, source, source_labels, target, num_classes, groups):
        return tgsr(
            source,
            source_labels,
            target,
            groups=groups,
            num_classes=num_classes,
            lam=self.lam,
            mu=self.mu,
            gamma=self.gamma,
            scale=self.scale,
            tol=self.tol,
            max_iter=self.max_iter,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class RSTR(_RegionMethod):
    r"""RSTR as a shallow method: region-weighted transfer regression, argmax of its outputs.

    Needs the table's ``groups``. Scores are the regression outputs on the
    standardised target. :meth:`fit_solution` also returns the fitted
    :class:`RSTRSolution` (its ``region_weights`` / ``region_importance``).
    ``classifier`` and ``C`` do not apply.

    Args:
      lam, beta, rho, scale, tol, max_iter, w_iter: see :func:`rstr`.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(40, 6)); ys = (xs[:, 0] > 0).astype(int)
      >>> groups = np.array([0, 0, 1, 1, 2, 2])
      >>> preds, scores, sol = RSTR().fit_solution(xs, ys, rng.normal(size=(25, 6)),
      ...                                          groups=groups)
      >>> preds.shape, sol.region_weights.shape
      ((25,), (3,))
    """

    name: ClassVar[str] = "rstr"

    lam: float = 1.0
    beta: float = 1.0
    rho: float = 0.1
    scale: str = "relative"
    tol: float = 1e-6
    max_iter: int = 100
    w_iter: int = 500

    def _check_region_options(self) -> None:
        _check_rstr_options(
            self.lam, self.beta, self.rho, self.scale, self.tol, self.max_iter, self.w_iter
        )

    def _solve(self, source, source_labels, target, num_classes, groups):
        return rstr(
            source,
            source_labels,
            target,
            groups=groups,
            num_classes=num_classes,
            lam=self.lam,
            beta=self.beta,
            rho=self.rho,
            scale=self.scale,
            tol=self.tol,
            max_iter=self.max_iter,
            w_iter=self.w_iter,
        )
