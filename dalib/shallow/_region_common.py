r"""Region-aware transfer regression for cross-database micro-expressions: TGSR and RSTR.

Both methods regress the source features onto the one-hot source labels with a
linear map whose rows are grouped by *face region* (the ``groups [d]`` of a
feature table: the LBP-TOP block of each column), and penalise the source–target
mean discrepancy *in the label space*. They are their own classifiers: a target
sample gets :math:`\arg\max_k (U^\top x + b)_k`.

Notation (samples are rows here; FIELD.md writes columns): source
:math:`X_s` (``[n, d]``), one-hot labels :math:`Y` (``[n, c]``), target
:math:`X_t` (``[m, d]``), regions :math:`r = 1..R` with columns
:math:`\mathcal G_r` (:math:`d_r` of them), :math:`X_r` the columns of region
:math:`r`, :math:`U_r` the matching rows of :math:`U` (``[d, c]``),
:math:`\delta = \bar x_s - \bar x_t` the difference of the domain means and
:math:`\delta_r` its part in region :math:`r`.

Bias. Both objectives carry an unpenalised bias :math:`b` (``[c]``) in the
regression, :math:`\|Y - X_s U - \mathbf 1 b^\top\|_F^2`. Minimising over
:math:`b` gives :math:`b = \bar y - U^\top \bar x_s` and leaves the same problem
on the source-centred :math:`X_c = X_s - \mathbf 1\bar x_s^\top`,
:math:`Y_c = Y - \mathbf 1\bar y^\top`; the solvers work there and report
:math:`b`. (The discrepancy term does not involve :math:`b`: it cancels in the
difference of the means.) Feature standardisation is left to the caller; the
:class:`TGSR` / :class:`RSTR` methods standardise like every shallow method
(:func:`~dalib.shallow.standardize`, pooled by default).

Weights are scale-free by default (``scale="relative"``, as :func:`~dalib.shallow.tsrg`
does), so one default serves tables of any size; ``scale="absolute"`` passes
them through. The absolute values used are returned with each solution.

References:
  Zong, Zhang, Zheng, Hong, Tang, Cui & Zhao, "Cross-Database Micro-Expression
  Recognition: A Benchmark", arXiv:1812.07742 (2018) (RSTR; IEEE TKDE 2022).
  Jiang, Zong, Zheng et al., transfer group sparse regression (TGSR) for
  cross-database micro-expression recognition (Zong/Zheng group).
"""

from __future__ import annotations

import numpy as np
from jax.typing import ArrayLike

from dalib.shallow import _base

SCALES = ("relative", "absolute")

# Above this many entries (R * n * n) the region Gram matrices of RSTR are not
# stored; the weighted Gram is then rebuilt from the features at each U-step.
_MAX_GRAM_ENTRIES = 1 << 23


# ------------------------------------------------------------------------------ inputs


def _groups_missing(method: str | None) -> ValueError:
    who = f"method {method!r}" if method else "this method"
    return ValueError(
        f"{who} needs the table's `groups` — the face region of each feature column; "
        "micro-expression tables from `dalib features --set lbptop` carry it."
    )


def _as_groups(groups: ArrayLike | None, num_features: int, method: str | None = None):
    """Checks ``groups [d]`` (integer regions 0..R-1, each with a column); ``(groups, R)``."""
    if groups is None:
        raise _groups_missing(method)
    values = np.asarray(groups)
    if values.ndim != 1 or values.shape[0] != num_features:
        raise ValueError(
            f"`groups` must hold one region index per feature column ({num_features} "
            f"columns), got shape {values.shape}."
        )
    if values.dtype.kind not in "iu":
        raise ValueError(
            f"`groups` must hold integer region indices 0..R-1, got dtype {values.dtype}; "
            "map region names to indices first, e.g. `np.unique(groups, return_inverse=True)[1]`."
        )
    values = values.astype(np.int64)
    if values.min() < 0:
        raise ValueError(f"`groups` holds negative region indices (min {values.min()}).")
    counts = np.bincount(values)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"`groups` leaves region(s) {empty[:10].tolist()} without columns (regions are "
            f"numbered 0..{counts.size - 1}); renumber them consecutively, e.g. "
            "`np.unique(groups, return_inverse=True)[1]`."
        )
    return values, counts.size


def _prepare(source, source_labels, target, groups, num_classes):
    """Checked inputs, centred problem and region layout shared by both solvers."""
    if groups is None:
        raise _groups_missing(None)
    xs, ys, xt, num_classes = _base.check_inputs(source, source_labels, target, num_classes)
    groups, num_regions = _as_groups(groups, xs.shape[1])
    onehot = np.eye(num_classes)[ys]
    x_mean, y_mean = xs.mean(axis=0), onehot.mean(axis=0)
    return {
        "xc": xs - x_mean,
        "yc": onehot - y_mean,
        "x_mean": x_mean,
        "y_mean": y_mean,
        "delta": x_mean - xt.mean(axis=0),
        "groups": groups,
        "num_regions": num_regions,
        "sizes": np.bincount(groups, minlength=num_regions),
        "onehot": onehot,
        "xs": xs,
        "xt": xt,
    }


def _region_norms(u: np.ndarray, groups: np.ndarray, num_regions: int) -> np.ndarray:
    return np.sqrt(np.bincount(groups, np.sum(u * u, axis=1), minlength=num_regions))


def _decision(u: np.ndarray, bias: np.ndarray, x: ArrayLike) -> np.ndarray:
    x = _base.as_features(x, "x")
    if x.shape[1] != u.shape[0]:
        raise ValueError(
            f"`x` has {x.shape[1]} feature columns, the solution was fitted on {u.shape[0]}."
        )
    return x @ u + bias
