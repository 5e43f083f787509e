r"""Common machinery of the shallow baselines: input checks, preprocessing, classifiers.

Every shallow method is a small frozen dataclass of options with one entry
point, ``fit_predict(source, source_labels, target) -> (predictions, scores)``.
It sees the labelled source features, the source labels and the *unlabelled*
target features; there is no argument through which target labels could reach
it. The pipeline is always the same:

1. check the inputs (float ``[n, d]`` / ``[m, d]`` features, integer labels ``[n]``);
2. standardise the features (by default with the mean and standard deviation of
   source and target pooled, one affine map for both domains: label-free and
   not itself an adaptation);
3. the method's own transform (``adapt``), which returns the features the
   classifier is trained on (source side) and applied to (target side);
4. a linear classifier (``LinearSVC`` or ``LogisticRegression`` from
   scikit-learn) trained on the adapted source features and applied to the
   adapted target features (``_predict``; the region methods TGSR and RSTR
   replace it by the argmax of their own regression outputs).

Methods that set ``needs_groups`` also take the table's feature ``groups``
(``fit_predict(..., groups=groups)``), checked before anything else runs.

The transforms are written in NumPy/SciPy in float64, whatever the JAX
precision setting. scikit-learn (the ``experiments`` extra) is imported only when a
classifier is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dalib import _checks

__all__ = [
    "CLASSIFIERS",
    "STANDARDIZE",
    "ShallowMethod",
    "SourceOnly",
    "fit_classifier",
    "standardize",
]

CLASSIFIERS = ("svm", "logreg")
STANDARDIZE = ("pooled", "source", "per_domain", "none")


# ----------------------------------------------------------------------------- checks


def as_features(x: ArrayLike, name: str) -> np.ndarray:
    """Checks a feature set ``[n, d]`` (float, 2-D, non-empty, finite); float64 copy.

    The NumPy twin of :func:`dalib._checks.features`: same checks, same messages.
    """
    x = _checks.as_array(x, name)
    if not np.issubdtype(_checks.dtype_of(x), np.floating) and not jnp.issubdtype(
        _checks.dtype_of(x), jnp.floating
    ):
        raise _checks.float_dtype_error(x, name)
    _checks.check_rank(x, name, 2)
    _checks.check_nonempty(x, name)
    values = np.asarray(x, dtype=np.float64)
    _checks.check_finite(values, name)
    return values


def as_labels(y: ArrayLike, name: str, num_rows: int, rows_name: str) -> np.ndarray:
    """Checks integer class labels ``[n]`` (one per row of ``rows_name``, all >= 0).

    The NumPy twin of :func:`dalib._checks.labels`: same checks, same messages.
    """
    y = _checks.as_array(y, name)
    if not np.issubdtype(_checks.dtype_of(y), np.integer):
        raise _checks.label_dtype_error(y, name)
    _checks.check_rank(y, name, 1)
    labels = np.asarray(y, dtype=np.int64)
    if labels.shape[0] != num_rows:
        raise ValueError(
            f"`{name}` must have one label per row of `{rows_name}`, got {labels.shape[0]} "
            f"labels for {num_rows} rows."
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"`{name}` holds negative class indices (min {labels.min()}).")
    return labels


def check_inputs(
    source: ArrayLike, source_labels: ArrayLike, target: ArrayLike, num_classes: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validates ``(source, source_labels, target)``; returns them and the class count."""
    xs = as_features(source, "source")
    xt = as_features(target, "target")
    _checks.check_same_features(xs, xt, "source", "target")
    ys = as_labels(source_labels, "source_labels", xs.shape[0], "source")
    present = np.unique(ys)
    if present.size < 2:
        raise ValueError(
            f"`source_labels` holds a single class ({present.tolist()}); a classifier needs "
            "at least two source classes."
        )
    if num_classes is None:
        num_classes = int(ys.max()) + 1
    elif ys.max() >= num_classes:
        raise ValueError(
            f"`source_labels` holds class index {int(ys.max())} but num_classes={num_classes}; "
            f"labels must lie in [0, {num_classes - 1}]."
        )
    return xs, ys, xt, num_classes


# The option checks are the shared ones (one wording across dalib); they raise
# ValueError (OptionTypeError, also a TypeError, for a value of the wrong type).
check_positive = _checks.check_positive
check_positive_int = _checks.check_positive_int
check_choice = _checks.check_choice


# ------------------------------------------------------------------------ preprocessing


def standardize(
    source: np.ndarray, target: np.ndarray, *, mode: str = "pooled"
) -> tuple[np.ndarray, np.ndarray]:
    r"""Z-scores the features of both domains.

    * ``"pooled"``: mean and standard deviation of :math:`[X_s; X_t]`, one map for both.
    * ``"source"``: statistics of the source only, applied to both.
    * ``"per_domain"``: each domain with its own statistics (this already aligns
      first and second moments per feature: an adaptation in itself).
    * ``"none"``: unchanged.

    Features with zero spread are centred and left unscaled.

    Args:
      source: ``[n, d]``.
      target: ``[m, d]``.
      mode: one of the above.

    Returns:
      ``(source, target)`` standardised.

    Examples:
      >>> import numpy as np
      >>> xs, xt = standardize(np.array([[0.0], [2.0]]), np.array([[4.0], [6.0]]))
      >>> xs.ravel().round(4).tolist(), xt.ravel().round(4).tolist()
      ([-1.3416, -0.4472], [0.4472, 1.3416])
    """
    check_choice(mode, "standardize", STANDARDIZE)
    if mode == "none":
        return source, target

    def stats(x):
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        return mean, np.where(std > 0, std, 1.0)

    if mode == "per_domain":
        (ms, ss), (mt, st) = stats(source), stats(target)
        return (source - ms) / ss, (target - mt) / st
    fit_on = np.concatenate([source, target]) if mode == "pooled" else source
    mean, std = stats(fit_on)
    return (source - mean) / std, (target - mean) / std


# -------------------------------------------------------------------------- classifiers


def fit_classifier(
    kind: str, features: np.ndarray, labels: np.ndarray, *, C: float = 1.0, seed: int = 0
) -> Any:
    """Fits a linear scikit-learn classifier: ``"svm"`` (LinearSVC) or ``"logreg"``."""
    check_choice(kind, "classifier", CLASSIFIERS)
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the shallow baselines need scikit-learn for their final classifier: "
            "pip install 'dalib-jax[experiments]'"
        ) from err
    if kind == "svm":
        model = LinearSVC(C=C, dual="auto", max_iter=20000, random_state=seed)
    else:
        model = LogisticRegression(C=C, max_iter=5000)
    return model.fit(features, labels)


def classifier_outputs(
    model: Any, kind: str, features: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions ``[m]`` and per-class scores ``[m, num_classes]`` of a fitted classifier.

    ``"logreg"`` scores are probabilities (0 for classes absent from the training
    labels); ``"svm"`` scores are decision values (``-inf`` for absent classes; in
    the two-class case the columns are ``(-f(x), f(x))``).
    """
    classes = np.asarray(model.classes_, dtype=np.int64)
    if kind == "logreg":
        raw = model.predict_proba(features)
        fill = 0.0
    else:
        raw = model.decision_function(features)
        if raw.ndim == 1:
            raw = np.stack([-raw, raw], axis=1)
        fill = -np.inf
    scores = np.full((features.shape[0], num_classes), fill, dtype=np.float64)
    scores[:, classes] = raw
    predictions = classes[np.argmax(raw, axis=1)]
    return predictions, scores


# --------------------------------------------------------------------------- the methods


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShallowMethod:
    r"""Base class of the shallow baselines (options shared by all of them).

    Subclasses implement :meth:`_adapt`. Construct them with :func:`make_shallow`
    or directly; every option is keyword-only and checked at construction.

    Args:
      classifier: final linear classifier, ``"svm"`` (``LinearSVC``, decision values
        as scores) or ``"logreg"`` (``LogisticRegression``, probabilities as scores).
      C: inverse regularisation strength of the classifier (scikit-learn's ``C``).
      standardize: ``"pooled"`` (default), ``"source"``, ``"per_domain"`` or
        ``"none"``; see :func:`standardize`.
      num_classes: number of classes ``C`` (the width of the scores); default
        ``max(source_labels) + 1``.
      seed: seeds the classifier's solver (results are deterministic given it).
    """

    name: ClassVar[str] = "base"
    #: Whether the method needs the feature ``groups`` (face regions) of the table.
    needs_groups: ClassVar[bool] = False

    classifier: str = "svm"
    C: float = 1.0
    standardize: str = "pooled"
    num_classes: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.classifier, "classifier", CLASSIFIERS)
        check_positive(self.C, "C")
        check_choice(self.standardize, "standardize", STANDARDIZE)
        if self.num_classes is not None:
            if check_positive_int(self.num_classes, "num_classes") < 2:
                raise ValueError(f"`num_classes` must be >= 2, got {self.num_classes}.")
        if not isinstance(self.seed, int | np.integer):
            raise ValueError(f"`seed` must be an integer, got {self.seed!r}.")
        self._check_options()

    def _check_options(self) -> None:
        """Validates method-specific options (subclasses override)."""

    def _check_groups(self, groups: ArrayLike | None, source: ArrayLike) -> np.ndarray | None:
        """Validates ``groups`` (region methods override this); the others ignore them."""
        del groups, source
        return None

    def _adapt(
        self,
        source: np.ndarray,
        source_labels: np.ndarray,
        target: np.ndarray,
        num_classes: int,
        **extra: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _fit(self, features: np.ndarray, labels: np.ndarray) -> Any:
        return fit_classifier(self.classifier, features, labels, C=self.C, seed=self.seed)

    def _predict(
        self, train: np.ndarray, labels: np.ndarray, test: np.ndarray, num_classes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Final step: the linear classifier trained on ``train`` and applied to ``test``."""
        model = self._fit(train, labels)
        return classifier_outputs(model, self.classifier, test, num_classes)

    def _prepared(
        self,
        source: ArrayLike,
        source_labels: ArrayLike,
        target: ArrayLike,
        groups: ArrayLike | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, dict[str, Any]]:
        # ``groups`` first: a region method without them fails before any work.
        groups = self._check_groups(groups, source)
        xs, ys, xt, num_classes = check_inputs(source, source_labels, target, self.num_classes)
        xs, xt = standardize(xs, xt, mode=self.standardize)
        extra = {"groups": groups} if self.needs_groups else {}
        return xs, ys, xt, num_classes, extra

    def adapt(
        self,
        source: ArrayLike,
        source_labels: ArrayLike,
        target: ArrayLike,
        *,
        groups: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The adapted features: ``(train_features [n, k], test_features [m, k])``.

        The classifier of :meth:`fit_predict` is trained on the first and applied
        to the second (for the region methods, which are their own classifiers,
        they are the regression outputs ``[n, C]`` / ``[m, C]``). Inputs are
        checked and standardised as in :meth:`fit_predict`.
        """
        xs, ys, xt, num_classes, extra = self._prepared(source, source_labels, target, groups)
        return self._adapt(xs, ys, xt, num_classes, **extra)

    def fit_predict(
        self,
        source: ArrayLike,
        source_labels: ArrayLike,
        target: ArrayLike,
        *,
        groups: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adapts, trains on the labelled source and predicts the unlabelled target.

        Args:
          source: source features ``[n, d]`` (float).
          source_labels: source class indices ``[n]`` (int, in ``[0, C)``).
          target: target features ``[m, d]`` (float). Target labels are never an
            input: nothing here can read them.
          groups: ``[d]`` the feature group (face region) of each column, as a
            table's ``groups`` holds it. Required by the methods with
            :attr:`needs_groups` (``tgsr``, ``rstr``), ignored by the others.

        Returns:
          ``(predictions [m] int64, scores [m, C] float64)``; scores are
          probabilities for ``classifier="logreg"`` and decision values for
          ``"svm"`` (see :func:`classifier_outputs`) and for the region methods.

        Raises:
          TypeError: integer features or float labels.
          ValueError: wrong ranks, empty sets, feature-size or label-count
            mismatch, non-finite values, a single source class; missing or
            malformed ``groups`` for a method that needs them.
        """
        predictions, scores, _, _ = self.fit_transform_predict(
            source, source_labels, target, groups=groups
        )
        return predictions, scores

    def fit_transform_predict(
        self,
        source: ArrayLike,
        source_labels: ArrayLike,
        target: ArrayLike,
        *,
        groups: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`fit_predict` that also returns the adapted features it used.

        Returns:
          ``(predictions [m], scores [m, C], train_features [n, k],
          test_features [m, k])``: the last two as :meth:`adapt` returns them,
          computed once.
        """
        xs, ys, xt, num_classes, extra = self._prepared(source, source_labels, target, groups)
        zs, zt = self._adapt(xs, ys, xt, num_classes, **extra)
        predictions, scores = self._predict(zs, ys, zt, num_classes)
        return predictions, scores, zs, zt


@dataclasses.dataclass(frozen=True, kw_only=True)
class SourceOnly(ShallowMethod):
    r"""No adaptation: a linear classifier trained on the (standardised) source.

    The lower bound every results table reports (``svm`` and ``logreg`` in
    :func:`make_shallow`).

    Examples:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> xs = np.concatenate([rng.normal(-2, 1, (20, 2)), rng.normal(2, 1, (20, 2))])
      >>> ys = np.repeat([0, 1], 20)
      >>> preds, scores = SourceOnly(classifier="logreg").fit_predict(xs, ys, xs[:3] + 0.1)
      >>> preds.tolist(), scores.shape
      ([0, 0, 0], (3, 2))
    """

    name: ClassVar[str] = "source_only"

    def _adapt(self, source, source_labels, target, num_classes):
        del source_labels, num_classes
        return source, target
