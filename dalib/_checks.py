"""Input validation shared by every public function.

All checks run at trace time on static information (shape, dtype), so they
cost nothing inside ``jit``. Value checks (:func:`check_finite`, label ranges,
weight signs) run on concrete values: plain arrays, and the primal values that
``jax.grad``/``jax.jvp`` carry (see :func:`concrete_value`). Under ``jit`` the
values are unknown at trace time, nothing is checked, and non-finite values
propagate to the output as NaN, which is the documented behaviour of every loss.

Scalar options (counts, choices, bounded numbers) are checked by
:func:`check_positive_int`, :func:`check_choice`, :func:`check_number` and
:func:`check_positive`, which every module uses so that one kind of mistake
gets one wording everywhere.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def _shape(x: ArrayLike) -> tuple[int, ...]:
    return tuple(np.shape(x))


def as_array(x: Any, name: str) -> Any:
    """``x`` itself if it is an array (JAX, NumPy, tracer), else ``np.asarray(x)``.

    Nested Python lists and tuples are accepted and converted; ragged nesting or
    objects NumPy cannot read raise a ``TypeError`` naming ``name``.
    """
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` must be an array or a rectangular nested list of numbers, got "
            f"{type(x).__name__} that NumPy cannot read ({err})."
        ) from None


def dtype_of(x: Any) -> np.dtype:
    """The dtype ``x`` holds as given (an int64 NumPy array reports int64, not int32)."""
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype


def float_dtype_error(x: Any, name: str) -> TypeError:
    """The one wording of "features must be floats" (also used by the NumPy twins)."""
    return TypeError(
        f"`{name}` must hold floating-point values, got dtype {dtype_of(x)} with shape "
        f"{_shape(x)}; cast it first, e.g. `{name}.astype(np.float32)`."
    )


def as_float(x: ArrayLike, name: str, *, ndim: int | Sequence[int] | None = None) -> jax.Array:
    """Returns ``x`` as a floating JAX array after checking its dtype and rank.

    Nested lists are converted first (see :func:`as_array`).

    Raises:
      TypeError: if ``x`` holds integers, booleans, strings or objects.
      ValueError: if ``x`` does not have one of the ranks in ``ndim``.
    """
    x = as_array(x, name)
    if not np.issubdtype(dtype_of(x), np.floating) and not jnp.issubdtype(
        dtype_of(x), jnp.floating
    ):
        raise float_dtype_error(x, name)
    check_rank(x, name, ndim)
    return jnp.asarray(x)


def check_rank(x: ArrayLike, name: str, ndim: int | Sequence[int] | None) -> None:
    """Raises ``ValueError`` unless ``x`` has one of the ranks ``ndim``."""
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if np.ndim(x) not in allowed:
        want = " or ".join(f"{k}-D" for k in allowed)
        layout = {1: "[n]", 2: "[n, d]", 3: "[b, n, d]"}
        hint = " or ".join(layout.get(k, f"{k}-D") for k in allowed)
        raise ValueError(f"`{name}` must be {want} ({hint}), got shape {_shape(x)}.")


def check_nonempty(x: ArrayLike, name: str, *, axis: int = 0) -> None:
    """Raises ``ValueError`` when ``x`` has no samples along ``axis``."""
    if np.shape(x)[axis] == 0:
        raise ValueError(
            f"`{name}` is empty (shape {_shape(x)}); every set needs at least one sample."
        )


def check_min_samples(x: ArrayLike, name: str, minimum: int, why: str) -> None:
    """Raises ``ValueError`` when ``x`` has fewer than ``minimum`` rows."""
    n = np.shape(x)[0]
    if n < minimum:
        raise ValueError(f"`{name}` has {n} samples (shape {_shape(x)}); {why} needs {minimum}+.")


def check_same_features(a: ArrayLike, b: ArrayLike, name_a: str, name_b: str) -> None:
    """Raises ``ValueError`` when the last axes of ``a`` and ``b`` differ."""
    if np.shape(a)[-1] != np.shape(b)[-1]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same feature size, got shapes "
            f"{_shape(a)} and {_shape(b)}."
        )


def check_leading(a: ArrayLike, b: ArrayLike, name_a: str, name_b: str) -> None:
    """Raises ``ValueError`` when ``a`` and ``b`` differ in their number of rows."""
    if np.shape(a)[0] != np.shape(b)[0]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have one entry per sample, got shapes "
            f"{_shape(a)} and {_shape(b)}."
        )


def check_weights(w: ArrayLike | None, x: ArrayLike, name: str, x_name: str) -> jax.Array | None:
    """Validates optional per-sample weights ``w [n]`` for samples ``x [n, ...]``."""
    if w is None:
        return None
    w = as_float(w, name, ndim=1)
    if w.shape[0] != np.shape(x)[0]:
        raise ValueError(
            f"`{name}` must have one weight per row of `{x_name}`, got shapes "
            f"{_shape(w)} and {_shape(x)}."
        )
    check_finite(w, name)
    return w


def is_concrete(x: ArrayLike) -> bool:
    """True when ``x`` holds values now (not a tracer inside ``jit``/``grad``)."""
    return not isinstance(x, jax.core.Tracer)


def concrete_value(x: Any) -> Any:
    """The values behind ``x`` when they are known now, else ``None``.

    A plain array is its own value. Under ``jax.grad``, ``jax.jvp`` or
    ``jax.linearize`` an input is a tracer that carries its concrete primal
    (``.primal``, possibly nested); that primal is returned so value checks run
    under differentiation as they do on the value path. Under ``jit`` or
    ``vmap`` the primal is itself abstract and ``None`` is returned.
    """
    if isinstance(x, jax.ShapeDtypeStruct):
        return None
    seen = 0
    while isinstance(x, jax.core.Tracer):
        x = getattr(x, "primal", None)
        seen += 1
        if x is None or seen > 32:
            return None
    return x


def check_finite(x: ArrayLike, name: str) -> None:
    """Raises ``ValueError`` if a concrete ``x`` holds NaN or infinity.

    Checked also under ``jax.grad`` (on the primal, see :func:`concrete_value`).
    Under ``jit`` the values are unknown at trace time, so nothing is checked and
    non-finite inputs give a non-finite output.
    """
    value = concrete_value(x)
    if value is None:
        return
    values = np.asarray(value)
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == jnp.bfloat16):
        return
    if values.size and not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise ValueError(
            f"`{name}` (shape {_shape(x)}) holds {bad} NaN or infinite values; "
            "clean or mask them before computing the loss."
        )


def features(x: ArrayLike, name: str) -> jax.Array:
    """The standard check for a feature set ``[n, d]``: float, 2-D, non-empty, finite."""
    x = as_float(x, name, ndim=2)
    check_nonempty(x, name)
    check_finite(x, name)
    return x


def feature_pair(
    source: ArrayLike, target: ArrayLike, names: tuple[str, str] = ("source", "target")
) -> tuple[jax.Array, jax.Array]:
    """Checks ``source [n, d]`` and ``target [m, d]`` together."""
    s = features(source, names[0])
    t = features(target, names[1])
    check_same_features(s, t, *names)
    return s, t


def label_dtype_error(y: Any, name: str) -> TypeError:
    """The one wording of "labels must be integer class indices"."""
    dtype = dtype_of(y)
    if dtype.kind in "USO":
        hint = (
            "class names are not accepted: map them to indices first, e.g. "
            "`classes, y = np.unique(names, return_inverse=True)` (indices follow the "
            "sorted class names), and use the same `classes` for every array you compare"
        )
    else:
        hint = "map class names to indices 0..C-1 first (or round and cast float predictions)"
    return TypeError(
        f"`{name}` must hold integer class indices, got dtype {dtype} with shape "
        f"{_shape(y)}; {hint}."
    )


def check_label_values(y: Any, name: str, num_classes: int | None) -> None:
    """Range check of concrete labels, on the values as given (before any int32 cast)."""
    value = concrete_value(y)
    if value is None:
        return
    values = np.asarray(value)
    if not values.size:
        return
    lo, hi = int(np.min(values)), int(np.max(values))
    if num_classes is not None and (lo < 0 or hi >= num_classes):
        raise ValueError(
            f"`{name}` holds class indices in [{lo}, {hi}] but num_classes={num_classes}; "
            f"labels must lie in [0, {num_classes - 1}]."
        )
    info = np.iinfo(jnp.asarray(0).dtype)  # int32 unless jax_enable_x64
    if lo < info.min or hi > info.max:
        raise ValueError(
            f"`{name}` holds class indices in [{lo}, {hi}], outside the {info.dtype} range "
            "JAX uses here; class indices must be small integers 0..C-1."
        )


def labels(y: ArrayLike, name: str, *, num_classes: int | None = None) -> jax.Array:
    """Checks integer class labels ``[n]``; values are range-checked when concrete.

    The range check runs on the values as given, so an int64 label that int32
    cannot hold is refused instead of wrapping around.
    """
    y = as_array(y, name)
    if not np.issubdtype(dtype_of(y), np.integer):
        raise label_dtype_error(y, name)
    check_rank(y, name, 1)
    check_label_values(y, name, num_classes)
    return jnp.asarray(y)


def probs(p: ArrayLike, name: str, *, num_classes: int | None = None) -> jax.Array:
    """Checks class probabilities ``[n, C]``."""
    p = as_float(p, name, ndim=2)
    if num_classes is not None and p.shape[1] != num_classes:
        raise ValueError(
            f"`{name}` must have num_classes={num_classes} columns, got shape {_shape(p)}."
        )
    check_finite(p, name)
    return p


# ----------------------------------------------------------------------------- options


class OptionTypeError(TypeError, ValueError):
    """An option of the wrong type (a float count, a string number).

    Both a ``TypeError`` and a ``ValueError``, so callers that document either
    (the shallow methods, the config layer, say ``ValueError`` for every bad
    option) catch it.
    """


def _what(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_positive_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """Returns ``value`` as an ``int`` after checking it is an integer ``>= 1`` (``>= 0``).

    Booleans and floats (even ``2.0``) are refused: counts fix shapes and loop lengths.

    Raises:
      OptionTypeError: ``value`` is not an integer (a ``TypeError`` and a ``ValueError``).
      ValueError: ``value`` is too small.
    """
    kind = "a non-negative int (>= 0)" if allow_zero else "a positive int (>= 1)"
    if isinstance(value, bool) or isinstance(value, jax.core.Tracer):
        raise OptionTypeError(f"`{name}` must be {kind}, got {_what(value)}.")
    try:
        number = operator.index(value)
    except TypeError:
        raise OptionTypeError(f"`{name}` must be {kind}, got {_what(value)}.") from None
    if number < (0 if allow_zero else 1):
        raise ValueError(f"`{name}` must be {kind}, got {number}.")
    return int(number)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Returns ``value`` after checking it is one of the strings ``choices``.

    Raises:
      ValueError: ``value`` is not one of ``choices`` (the message lists them).
    """
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}.")
    return value


def _bounds_text(low, high, low_inclusive, high_inclusive) -> str:
    if low is not None and high is not None:
        left, right = "[" if low_inclusive else "(", "]" if high_inclusive else ")"
        return f"lie in {left}{low:g}, {high:g}{right}"
    if low is not None:
        if low == 0:
            return "non-negative (>= 0)" if low_inclusive else "positive (> 0)"
        return f"{'>=' if low_inclusive else '>'} {low:g}"
    if high is not None:
        return f"{'<=' if high_inclusive else '<'} {high:g}"
    return ""


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    finite: bool = True,
) -> float:
    """Returns ``value`` as a ``float`` after checking it is a real number in bounds.

    Python and NumPy numbers and concrete 0-d arrays are accepted; booleans,
    strings and traced values are not (use :func:`check_param` for values that
    may be traced).

    Args:
      value: the number.
      name: the argument's name, for the message.
      low, high: optional bounds.
      low_inclusive, high_inclusive: whether the bounds are allowed values.
      finite: refuse NaN and infinities (NaN is always refused).

    Raises:
      OptionTypeError: not a real number (a ``TypeError`` and a ``ValueError``).
      ValueError: NaN, infinite (with ``finite``), or out of bounds.
    """
    if isinstance(value, bool | str | bytes) or isinstance(value, jax.core.Tracer):
        raise OptionTypeError(f"`{name}` must be a real number, got {_what(value)}.")
    if np.ndim(value) != 0:
        raise OptionTypeError(f"`{name}` must be a real number, got shape {_shape(value)}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionTypeError(f"`{name}` must be a real number, got {_what(value)}.") from None
    want = _bounds_text(low, high, low_inclusive, high_inclusive)
    if math.isnan(number) or (finite and math.isinf(number)):
        extra = f" that is {want}" if want else ""
        raise ValueError(f"`{name}` must be a finite number{extra}, got {number}.")
    bad = (
        (low is not None and (number < low or (number == low and not low_inclusive)))
        or (high is not None and (number > high or (number == high and not high_inclusive)))
    )
    if bad:
        verb = "must" if want.startswith("lie") else "must be"
        raise ValueError(f"`{name}` {verb} {want}, got {number!r}.")
    return number


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``); see :func:`check_number`."""
    return check_number(value, name, low=0.0, low_inclusive=allow_zero)


def check_param(value: Any, name: str, **bounds: Any) -> Any:
    """:func:`check_number` for an option that may be traced; returns ``value`` unchanged.

    Checked when concrete (including every entry of a concrete array, e.g. a
    stacked batch of kernels); a traced value (inside ``jit``/``vmap``, or a
    learned parameter under ``grad``) cannot be inspected and passes.
    """
    concrete = concrete_value(value)
    if concrete is None:
        return value
    if np.ndim(concrete) == 0:
        check_number(concrete, name, **bounds)
    else:
        for entry in np.asarray(concrete).ravel():
            check_number(entry, name, **bounds)
    return value


def check_weight_values(w: Any, name: str, *, min_positive: int = 1) -> None:
    """Sample weights: non-negative, and at least ``min_positive`` of them positive.

    Runs on concrete weights only (see :func:`concrete_value`).
    """
    value = concrete_value(w)
    if value is None:
        return
    values = np.asarray(value)
    if np.any(values < 0):
        raise ValueError(
            f"`{name}` (shape {values.shape}) must be non-negative, got minimum "
            f"{float(np.min(values)):g}."
        )
    positive = int(np.count_nonzero(values > 0))
    if positive < min_positive:
        if positive == 0:
            raise ValueError(
                f"`{name}` (shape {values.shape}) sums to 0; give some sample weight."
            )
        raise ValueError(
            f"`{name}` (shape {values.shape}) has {positive} positive weight(s); "
            f"{min_positive} are needed."
        )


def check_probability_values(p: Any, name: str, *, atol: float = 1e-3) -> None:
    """Concrete class probabilities ``[n, C]``: entries in [0, 1], rows summing to 1.

    Rows must sum to 1 within ``atol`` (softmax outputs do, in float32 too).
    """
    value = concrete_value(p)
    if value is None:
        return
    values = np.asarray(value, dtype=np.float64)
    if not values.size:
        return
    lo, hi = float(np.min(values)), float(np.max(values))
    sums = values.sum(axis=-1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if lo < 0 or hi > 1 + atol or worst > atol:
        raise ValueError(
            f"`{name}` (shape {values.shape}) must hold class probabilities (entries in "
            f"[0, 1], each row summing to 1), got entries in [{lo:.4g}, {hi:.4g}] and row "
            f"sums off 1 by up to {worst:.3g}; pass softmax outputs, e.g. "
            "`jax.nn.softmax(logits)`."
        )


def check_kernel(kernel: Any, name: str = "kernel") -> Any:
    """Returns ``kernel`` after checking it is a :class:`dalib.kernels.Kernel`."""
    from dalib.kernels import Kernel

    if not isinstance(kernel, Kernel):
        raise TypeError(
            f"`{name}` must be a dalib.kernels.Kernel (e.g. Gaussian(bandwidth=1.0)), "
            f"got {type(kernel).__name__}."
        )
    return kernel
