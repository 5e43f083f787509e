r"""The method registry: one entry per method, the single place a method is defined.

An entry (:class:`Method`) holds a method's family (``"deep"`` or
``"shallow"``), its default options (their types are the defaults' types), a
one-line description, the reference it follows, and how to build it:

* a deep method's ``build(ctx) -> DeepParts`` returns its alignment terms
  (:mod:`dalib.train` terms) and, where the method needs one, its own
  classifier head, from a :class:`DeepContext` (the resolved options, the
  feature size, the class count and ``ctx.weight``, which applies the warm-up
  ramp and the selection grid's multiplier to a weight);
* a shallow method's ``build(options, num_classes, seed)`` returns a
  :class:`dalib.shallow.ShallowMethod`.

``dalib methods`` prints the registry, config validation reads it, and the
runner builds from it. Adding a method is one :func:`register` call::

    from dalib import losses
    from dalib.experiment import registry
    from dalib.train import Entropy

    registry.register(registry.Method(
        name="entmin", family="deep",
        description="entropy minimisation on the target predictions",
        reference="Grandvalet & Bengio 2005",
        defaults={"weight": 0.1},
        build=lambda ctx: registry.DeepParts(
            terms=(Entropy(weight=ctx.weight(ctx.options["weight"])),)),
    ))

after which ``dalib run --method entmin`` and ``dalib protocol ... --methods
entmin`` work with no other change (register it in a module your command
imports, e.g. a config file).

Every deep method minimises the source cross-entropy plus its terms, each
weighted :math:`\lambda \cdot r(t)` with DANN's warm-up
:math:`r(t) = 2/(1+e^{-\gamma t/T}) - 1` (``train.ramp``; the adversarial
recipes put :math:`r(t)` on the gradient reversal instead, ``ctx.reversal``),
and trains with its family's :class:`~dalib.experiment.recipes.Recipe`
(optimiser, learning-rate schedule, where the warm-up goes;
:mod:`dalib.experiment.recipes`).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import Any

from dalib.experiment.recipes import ADAMW, Recipe

__all__ = [
    "DeepContext",
    "DeepParts",
    "Method",
    "get",
    "names",
    "register",
    "resolve_options",
    "unregister",
]

FAMILIES = ("deep", "shallow")


@dataclasses.dataclass(frozen=True)
class DeepContext:
    """What a deep method's ``build`` receives.

    Attributes:
      options: the method's resolved options.
      feature_dim: the encoder's output size ``d`` (the last hidden layer).
      num_classes: ``C``.
      weight: ``weight(value) -> float | schedule``: a term weight with the
        warm-up ramp and the selection multiplier applied.
      in_features: the input size ``D`` (for a method's own encoder).
      groups: ``[D]`` feature group of each input column (``needs_groups``
        methods), or ``None``.
      dropout: the encoder dropout of ``model.dropout``.
      reversal: the gradient-reversal strength (number or schedule) the
        recipe gives adversarial terms (their ``reversal=``); ``None``: plain.
    """

    options: Mapping[str, Any]
    feature_dim: int
    num_classes: int
    weight: Callable[[float], Any]
    in_features: int = 0
    groups: Any = None
    dropout: float = 0.0
    reversal: Any = None


@dataclasses.dataclass(frozen=True)
class DeepParts:
    """What a deep method's ``build`` returns: its terms, and optionally its classifier.

    ``classifier`` is a :class:`dalib.train.Network` (``None``: a linear layer
    ``d -> C``). ``encoder`` is a :class:`dalib.train.Network` that replaces the
    MLP encoder (``None``: the MLP of ``model.hidden``); its first ``d`` output
    columns are the features (an encoder may append more, e.g. TANN's
    discriminator logits, which its terms and classifier know how to read).
    """

    terms: tuple = ()
    classifier: Any = None
    encoder: Any = None


@dataclasses.dataclass(frozen=True)
class Method:
    """One registered method.

    Attributes:
      name: the command-line name.
      family: ``"deep"`` (trained with :mod:`dalib.train` on an MLP encoder or its own) or
        ``"shallow"`` (:mod:`dalib.shallow`).
      description: one line.
      reference: the paper (or code) the method and its defaults follow.
      defaults: option name -> default value; the value's type is the option's type
        (``None`` defaults take a number or ``None``).
      build: deep: ``build(DeepContext) -> DeepParts``; shallow:
        ``build(options, num_classes, seed) -> ShallowMethod``.
      normalize: a feature normalisation that is part of the method (overrides
        ``data.normalize``), e.g. ``"domain"`` for ``corpus_norm``.
      needs_groups: the method reads the table's ``groups`` (feature regions).
      recipe: how the method is trained (:class:`dalib.experiment.recipes.Recipe`;
        default the house AdamW recipe, :data:`~dalib.experiment.recipes.ADAMW`).
      revision: bumped whenever the method's computation changes in a way its
        options and recipe do not show (e.g. a corrected loss scale). It is part
        of every run's identity (:attr:`dalib.experiment.RunSpec.hash`), so run
        folders made by an older revision are redone instead of resumed as
        complete. ``0`` adds nothing to the identity.
    """

    name: str
    family: str
    description: str
    reference: str
    defaults: Mapping[str, Any]
    build: Callable[..., Any]
    normalize: str | None = None
    needs_groups: bool = False
    recipe: Recipe = ADAMW
    revision: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"Method.family must be one of {FAMILIES}, got {self.family!r}.")
        if not self.name or not self.name.isidentifier():
            raise ValueError(f"Method.name must be an identifier, got {self.name!r}.")
        if not isinstance(self.revision, int) or self.revision < 0:
            raise ValueError(f"Method.revision must be an int >= 0, got {self.revision!r}.")
        object.__setattr__(self, "defaults", dict(self.defaults))

    @property
    def deep(self) -> bool:
        return self.family == "deep"


_REGISTRY: dict[str, Method] = {}


def register(method: Method, *, replace: bool = False) -> Method:
    """Adds a method to the registry (``replace=True`` to redefine one); returns it."""
    if method.name in _REGISTRY and not replace:
        raise ValueError(
            f"a method named {method.name!r} is registered already; pass replace=True to "
            "redefine it."
        )
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Removes a method (tests that register temporary methods clean up with it)."""
    _REGISTRY.pop(name, None)


def names(family: str | None = None) -> tuple[str, ...]:
    """Registered method names in registration order, optionally of one family."""
    _ensure_builtins()
    return tuple(n for n, m in _REGISTRY.items() if family is None or m.family == family)


def get(name: str) -> Method:
    """The entry of ``name``; ``ValueError`` naming the valid methods if there is none.

    Examples:
      >>> get("dann").family
      'deep'
      >>> get("dnn")
      Traceback (most recent call last):
      ...
      ValueError: unknown method 'dnn' (did you mean 'dann'?); `dalib methods` lists them all.
    """
    _ensure_builtins()
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown method {name!r}{hint}; `dalib methods` lists them all.")


def _matches(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, tuple):
        return isinstance(value, list | tuple)
    return isinstance(value, type(default))


def resolve_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The method's defaults updated with ``options``, each checked against its default's type.

    Raises:
      ValueError: an unknown method or option (the valid ones are listed), or a
        value the method rejects.
      TypeError: a value of another type than the default's.

    Examples:
      >>> resolve_options("dann", {"weight": 0.3})["weight"]
      0.3
    """
    method = get(name)
    defaults = method.defaults
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise ValueError(f"method {name!r} has no option(s) {unknown}; its options: {valid}.")
    out = dict(defaults)
    for key, value in options.items():
        if not _matches(defaults[key], value):
            raise TypeError(
                f"option {key!r} of method {name!r} must be like {defaults[key]!r}, got {value!r}."
            )
        if isinstance(defaults[key], float) and value is not None:
            value = float(value)
        if isinstance(defaults[key], tuple):
            value = tuple(value)
        if key.endswith("weight") and isinstance(value, float) and not value >= 0.0:
            raise ValueError(
                f"option {key!r} of method {name!r} is a loss weight and must be >= 0, got {value}."
            )
        out[key] = value
    if not method.deep:
        method.build(out, 2, 0)  # let the shallow class check the values
    return out


_LOADED = False


def _ensure_builtins() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from dalib.experiment import _builtin_methods  # noqa: F401  (registers on import)
