r"""Shallow domain-adaptation baselines on feature matrices.

The methods a cross-corpus results table reports against: source-only linear
SVM / logistic regression, TCA, JDA, subspace alignment, the CORAL feature
transform and TSRG, and the region-aware transfer regressions of
cross-database micro-expression recognition, TGSR and RSTR. Each is built by
name and used the same way::

    method = make_shallow("tca", dim=50)
    predictions, scores = method.fit_predict(source, source_labels, target)

``fit_predict`` sees the labelled source and the *unlabelled* target only. The
region methods (``needs_groups``) also need the table's ``groups`` (the face
region of each feature column), ``fit_predict(..., groups=groups)``; the other
methods ignore that keyword. ``TGSR.fit_solution`` / ``RSTR.fit_solution``
return ``(predictions, scores, solution)`` from one fit, the solution carrying
the learned region norms / weights (``solution.region_importance``).
The transforms themselves are also available as functions of arrays
(:func:`tca`, :func:`jda`, :func:`subspace_alignment`, :func:`coral_transform`,
:func:`tsrg`, :func:`tgsr`, :func:`rstr`). Defaults follow the papers (or their
authors' code) and are made scale-free where the papers' were not, so that they
can be used on a new pair of corpora without tuning on target labels.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dalib.shallow._base import (
    CLASSIFIERS,
    STANDARDIZE,
    ShallowMethod,
    SourceOnly,
    classifier_outputs,
    fit_classifier,
    standardize,
)
from dalib.shallow._region import (
    RSTR,
    TGSR,
    RSTRSolution,
    TGSRSolution,
    rstr,
    rstr_objective,
    tgsr,
    tgsr_objective,
)
from dalib.shallow._subspace import SA, CoralTransform, coral_transform, subspace_alignment
from dalib.shallow._tca import JDA, TCA, jda, tca
from dalib.shallow._tsrg import TSRG, TSRGSolution, tsrg, tsrg_objective

__all__ = [
    "CLASSIFIERS",
    "JDA",
    "RSTR",
    "SA",
    "SHALLOW_METHODS",
    "STANDARDIZE",
    "TCA",
    "TGSR",
    "TSRG",
    "CoralTransform",
    "RSTRSolution",
    "ShallowMethod",
    "SourceOnly",
    "TGSRSolution",
    "TSRGSolution",
    "classifier_outputs",
    "coral_transform",
    "fit_classifier",
    "jda",
    "make_shallow",
    "rstr",
    "rstr_objective",
    "standardize",
    "subspace_alignment",
    "tca",
    "tgsr",
    "tgsr_objective",
    "tsrg",
    "tsrg_objective",
]

# name -> (class, options fixed by the name)
_REGISTRY: dict[str, tuple[type[ShallowMethod], dict[str, Any]]] = {
    "svm": (SourceOnly, {"classifier": "svm"}),
    "logreg": (SourceOnly, {"classifier": "logreg"}),
    "tca": (TCA, {}),
    "jda": (JDA, {}),
    "sa": (SA, {}),
    "coral_transform": (CoralTransform, {}),
    "tsrg": (TSRG, {}),
    "tgsr": (TGSR, {}),
    "rstr": (RSTR, {}),
}

SHALLOW_METHODS = tuple(_REGISTRY)


def make_shallow(name: str, **options: Any) -> ShallowMethod:
    r"""Builds a shallow baseline by its command-line name.

    Names: ``svm`` and ``logreg`` (source only), ``tca``, ``jda``, ``sa``,
    ``coral_transform``, ``tsrg``, and the region methods ``tgsr``, ``rstr``
    (which need ``groups=`` in ``fit_predict``). Options are the fields of the method's class
    (shared ones: ``classifier``, ``C``, ``standardize``, ``num_classes``,
    ``seed``; see :class:`ShallowMethod`).

    Args:
      name: the method name.
      **options: keyword options of that method.

    Returns:
      A configured :class:`ShallowMethod`; call ``fit_predict(source,
      source_labels, target)`` on it.

    Raises:
      ValueError: unknown name, a bad option value, or ``classifier`` given to
        ``svm``/``logreg`` (their name fixes it).
      TypeError: an option the method does not have.

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(40, 5)); ys = (xs[:, 0] > 0).astype(int)
      >>> xt = rng.normal(size=(30, 5)) + 0.5
      >>> preds, scores = make_shallow("coral_transform").fit_predict(xs, ys, xt)
      >>> preds.shape, scores.shape
      ((30,), (30, 2))
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown shallow method {name!r}; choose one of {SHALLOW_METHODS}.")
    cls, fixed = _REGISTRY[name]
    clash = sorted(set(fixed) & set(options))
    if clash:
        raise ValueError(
            f"method {name!r} fixes {clash} by its name; drop the option or pick the "
            "other source-only name."
        )
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise TypeError(
            f"method {name!r} has no option(s) {unknown}; valid options: {sorted(valid)}."
        )
    return cls(**fixed, **options)
