"""Input validation shared by every public function.

All checks run at trace time on static information (shape, dtype), so they
cost nothing inside ``jit``. The one value check, :func:`check_finite`, runs only
on concrete (non-traced) arrays; under ``jit`` non-finite values propagate to
the output as NaN, which is the documented behaviour of every loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def _shape(x: ArrayLike) -> tuple[int, ...]:
    return tuple(np.shape(x))


def as_float(x: ArrayLike, name: str, *, ndim: int | Sequence[int] | None = None) -> jax.Array:
    """Returns ``x`` as a floating JAX array after checking its dtype and rank.

    Raises:
      TypeError: if ``x`` holds integers or booleans (features must be floats).
      ValueError: if ``x`` does not have one of the ranks in ``ndim``.
    """
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"`{name}` must hold floating-point values, got dtype {dtype} with shape "
            f"{_shape(x)}; cast it first, e.g. `{name}.astype(jnp.float32)`."
        )
    x = jnp.asarray(x)
    check_rank(x, name, ndim)
    return x


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


def check_finite(x: ArrayLike, name: str) -> None:
    """Raises ``ValueError`` if a concrete ``x`` holds NaN or infinity.

    Under ``jit`` the values are unknown at trace time, so nothing is checked and
    non-finite inputs give a non-finite output.
    """
    if not is_concrete(x):
        return
    values = np.asarray(x)
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


def labels(y: ArrayLike, name: str, *, num_classes: int | None = None) -> jax.Array:
    """Checks integer class labels ``[n]``; values are range-checked when concrete."""
    dtype = jnp.result_type(y)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(
            f"`{name}` must hold integer class indices, got dtype {dtype} with shape "
            f"{_shape(y)}; map class names to indices 0..C-1 first."
        )
    y = jnp.asarray(y)
    check_rank(y, name, 1)
    if num_classes is not None and is_concrete(y) and y.size:
        lo, hi = int(np.min(np.asarray(y))), int(np.max(np.asarray(y)))
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"`{name}` holds class indices in [{lo}, {hi}] but num_classes={num_classes}; "
                f"labels must lie in [0, {num_classes - 1}]."
            )
    return y


def probs(p: ArrayLike, name: str, *, num_classes: int | None = None) -> jax.Array:
    """Checks class probabilities ``[n, C]``."""
    p = as_float(p, name, ndim=2)
    if num_classes is not None and p.shape[1] != num_classes:
        raise ValueError(
            f"`{name}` must have num_classes={num_classes} columns, got shape {_shape(p)}."
        )
    check_finite(p, name)
    return p


# ------------------------------------------------------------- option values
# Plain Python checks of options (not arrays), shared by the losses, the shallow
# methods and the experiment configuration.


def check_positive_int(value: object, name: str, *, allow_zero: bool = False) -> int:
    """Returns ``value`` as an int; ``ValueError`` unless it is an integer >= 1 (or >= 0)."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not ok or value < (0 if allow_zero else 1):
        raise ValueError(
            f"`{name}` must be an integer {'>= 0' if allow_zero else '>= 1'}, got {value!r}."
        )
    return int(value)


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Returns ``value``; ``ValueError`` listing ``choices`` unless it is one of them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}.")
    return value


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    finite: bool = True,
) -> float:
    """Returns ``value`` as a float after checking its type, finiteness and range."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    v = float(value) if ok else float("nan")
    ok = ok and not (finite and not np.isfinite(v)) and not np.isnan(v)
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v <= high if high_inclusive else v < high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>=' if low_inclusive else '>'} {low}")
        if high is not None:
            bounds.append(f"{'<=' if high_inclusive else '<'} {high}")
        what = "a finite number" if finite else "a number"
        raise ValueError(
            f"`{name}` must be {what}{' ' + ' and '.join(bounds) if bounds else ''}, "
            f"got {value!r}."
        )
    return v


def check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Returns ``value`` as a float; ``ValueError`` unless it is finite and > 0 (or >= 0)."""
    return check_number(value, name, low=0.0, low_inclusive=allow_zero)
