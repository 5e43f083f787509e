r"""Z-normalisation of feature tables per corpus or per speaker."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from jax.typing import ArrayLike

__all__ = ["Normalizer", "zscore"]

_ALL = "__all__"


def _features(x: ArrayLike, name: str = "features") -> np.ndarray:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"`{name}` must hold floating-point values, got dtype {arr.dtype} with shape "
            f"{arr.shape}."
        )
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"`{name}` must be a non-empty [n, d] array, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` (shape {arr.shape}) holds NaN or infinite values.")
    return arr


def _groups(groups: ArrayLike | Sequence | None, n: int) -> np.ndarray:
    if groups is None:
        return np.full(n, _ALL, dtype=object)
    g = np.asarray(groups, dtype=object)
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(
            f"`groups` must have one entry per row of `features` ({n}), got shape {g.shape}."
        )
    return g


@dataclasses.dataclass(frozen=True)
class Normalizer:
    r"""Per-group z-normalisation, fitted on one domain's features only.

    For every group :math:`g` (a speaker, or the whole corpus when no groups
    are given) the fit stores the mean and population standard deviation of
    each feature over that group's rows; the transform maps

    .. math::

        x \mapsto \frac{x - \mu_g}{\max(\sigma_g, \epsilon)},

    so each group has zero mean and unit variance per feature (features
    constant within a group become 0). Labels are never an input: fit the source
    on source features and the target on target features (the usual cross-corpus
    practice), so nothing about target classes leaks in.

    Attributes:
      means: group -> ``[d]`` mean.
      stds: group -> ``[d]`` standard deviation (``ddof=0``).
      eps: floor on the standard deviation.

    Examples:
      >>> import numpy as np
      >>> x = np.array([[1.0, 5.0], [3.0, 5.0], [10.0, 0.0], [20.0, 2.0]])
      >>> norm = Normalizer.fit(x, groups=["a", "a", "b", "b"])
      >>> norm.transform(x, groups=["a", "a", "b", "b"]).tolist()
      [[-1.0, 0.0], [1.0, 0.0], [-1.0, -1.0], [1.0, 1.0]]
    """

    means: dict
    stds: dict
    eps: float = 1e-8

    @classmethod
    def fit(
        cls, features: ArrayLike, groups: ArrayLike | Sequence | None = None, *, eps: float = 1e-8
    ) -> Normalizer:
        """Statistics of ``features [n, d]`` per group (``groups [n]`` or ``None``)."""
        x = _features(features).astype(np.float64)
        g = _groups(groups, x.shape[0])
        means, stds = {}, {}
        for key in dict.fromkeys(g.tolist()):
            rows = x[g == key]
            means[key] = rows.mean(axis=0)
            stds[key] = rows.std(axis=0)
        return cls(means=means, stds=stds, eps=eps)

    @property
    def groups(self) -> list:
        """The groups seen by :meth:`fit` (``["__all__"]`` without groups)."""
        return list(self.means)

    def transform(
        self, features: ArrayLike, groups: ArrayLike | Sequence | None = None
    ) -> np.ndarray:
        """Normalises ``features [n, d]`` with the statistics of each row's group.

        Returns:
          ``[n, d]`` in the dtype of ``features``.

        Raises:
          ValueError: a group was not seen by :meth:`fit`, or ``d`` differs.
        """
        x = _features(features)
        g = _groups(groups, x.shape[0])
        dim = next(iter(self.means.values())).shape[0]
        if x.shape[1] != dim:
            raise ValueError(
                f"`features` has {x.shape[1]} columns (shape {x.shape}) but the normalizer "
                f"was fitted on {dim}."
            )
        unseen = sorted(str(k) for k in dict.fromkeys(g.tolist()) if k not in self.means)
        if unseen:
            raise ValueError(
                f"groups {unseen[:10]} were not seen by fit (fitted on {len(self.means)} "
                "groups); fit on the same domain's data first."
            )
        out = np.empty(x.shape, np.float64)
        for key in dict.fromkeys(g.tolist()):
            rows = g == key
            out[rows] = (x[rows] - self.means[key]) / np.maximum(self.stds[key], self.eps)
        return out.astype(x.dtype)


def zscore(
    features: ArrayLike, groups: ArrayLike | Sequence | None = None, *, eps: float = 1e-8
) -> np.ndarray:
    r"""Z-normalises ``features`` with their own statistics (fit and transform).

    .. math::

        z_{ij} = \frac{x_{ij} - \mu_{g(i) j}}{\max(\sigma_{g(i) j}, \epsilon)}

    Per corpus with ``groups=None``; per speaker with ``groups=speakers``.
    Call it separately on each domain (source, target): statistics never mix
    domains and never use labels.

    Args:
      features: ``[n, d]`` floats.
      groups: ``[n]`` group of each row (speaker ids), or ``None`` for one group.
      eps: floor on the standard deviation.

    Returns:
      ``[n, d]``, same dtype, zero mean and unit variance per group and feature
      (0 for a feature constant within its group).

    Examples:
      >>> import numpy as np
      >>> z = zscore(np.array([[0.0], [2.0], [4.0]]))
      >>> z.ravel().round(4).tolist()
      [-1.2247, 0.0, 1.2247]
    """
    return Normalizer.fit(features, groups, eps=eps).transform(features, groups)
