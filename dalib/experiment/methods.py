r"""The methods of the experiment runner, by command-line name.

Deep methods (feature tables in, an MLP encoder and a linear classifier,
trained for a fixed budget with :mod:`dalib.train`): ``source_only``,
``corpus_norm``, ``dan``,
``jan``, ``dann``, ``cdan``, ``cdan_e``, ``mdd``, ``mcd``, ``dsan``,
``deep_coral``, ``ida``, ``djda``, ``sinkhorn``, ``deepjdot``,
``mi_decomposition``. Shallow methods (:func:`dalib.shallow.make_shallow`):
``svm``, ``logreg``, ``tca``, ``jda``, ``sa``, ``coral_transform``, ``tsrg``.

Every deep method minimises the source cross-entropy plus its alignment terms,
each weighted :math:`\lambda \cdot r(t)` with DANN's warm-up
:math:`r(t) = 2/(1+e^{-\gamma t/T}) - 1` (``train.ramp``). The defaults are the
papers' or their reference code's settings, made independent of the feature
scale where those were not; they were fixed before any result on target labels
was seen and are not tuned per corpus pair.

The ``mi_decomposition`` method (after the hybrid max-min mutual-information
SER method of ACM MM 2022) splits the encoder output :math:`F = [U, V]` into a
domain-invariant half :math:`U` and a domain-specific half :math:`V`:

* the emotion classifier reads :math:`U` only (its cross-entropy is the usual
  variational lower bound on :math:`I(U; y)`, maximised);
* a domain classifier on :math:`V`, trained with the encoder (no gradient
  reversal), maximises a Barber–Agakov lower bound on :math:`I(V; \text{domain})`;
* the CLUB upper bound on :math:`I(U; V)`, with a Gaussian posterior
  :math:`q(V \mid U)` fitted in the same step, is minimised to keep the halves apart;
* the MMD between the source and target :math:`U` is minimised.

It is our simplified reading of the paper's idea, not a reproduction of its
architecture (a Transformer on log-mel segments there, an MLP on functionals here).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import optax
from flax import nnx

from dalib import kernels, ops, shallow
from dalib.nn import DomainDiscriminator, GaussianPosterior, MLPEncoder
from dalib.train import (
    CORAL,
    IDA,
    JMMD,
    LMMD,
    MMD,
    ClassifierDiscrepancy,
    CLUBSplit,
    ConditionalAdversarial,
    DeepJDOT,
    DomainAdversarial,
    DomainClassifier,
    JointAlignment,
    MarginDisparity,
    SinkhornDivergence,
    SliceDistance,
    Term,
    from_nnx,
)

__all__ = [
    "DEEP_METHODS",
    "METHODS",
    "SHALLOW_METHODS",
    "DeepModel",
    "build_deep",
    "check_method",
    "is_deep",
    "method_defaults",
    "method_normalize",
    "resolve_options",
]

#: Methods whose data preprocessing is part of the method: ``corpus_norm`` is
#: source-only training on features z-normalised per corpus, whatever
#: ``data.normalize`` says.
_NORMALIZE: dict[str, str] = {"corpus_norm": "domain"}

_DISC = {"disc_hidden": (256,), "disc_dropout": 0.5}

# name -> (default options, one-line description with the reference)
_DEEP: dict[str, tuple[dict[str, Any], str]] = {
    "source_only": ({}, "no adaptation: source cross-entropy only"),
    "corpus_norm": (
        {},
        "source-only MLP on features z-normalised per corpus, each with its own statistics "
        "(corpus normalisation, Schuller et al. 2010): the cheapest adaptation baseline",
    ),
    "dan": ({"weight": 1.0}, "DAN: multi-kernel MMD on the features (Long et al. 2015)"),
    "jan": ({"weight": 1.0}, "JAN: joint MMD of features and predictions (Long et al. 2017)"),
    "dann": (
        {"weight": 1.0, **_DISC},
        "DANN: domain discriminator + gradient reversal (Ganin et al. 2016)",
    ),
    "cdan": (
        {"weight": 1.0, **_DISC},
        "CDAN: discriminator on features x predictions (Long et al. 2018)",
    ),
    "cdan_e": (
        {"weight": 1.0, **_DISC},
        "CDAN+E: CDAN with entropy conditioning (Long et al. 2018)",
    ),
    "mdd": (
        {"weight": 1.0, "margin": 4.0, "head_hidden": (256,)},
        "MDD: margin disparity discrepancy (Zhang et al. 2019)",
    ),
    "mcd": ({"weight": 1.0}, "MCD: maximum classifier discrepancy (Saito et al. 2018)"),
    "dsan": ({"weight": 0.5}, "DSAN: local (class-conditional) MMD (Zhu et al. 2020)"),
    "deep_coral": ({"weight": 1.0}, "Deep CORAL: covariance alignment (Sun & Saenko 2016)"),
    "ida": (
        {"weight": 1.0, "reg": 1.0, "class_wise": False},
        "IDA: implicit alignment by sample reconstruction (DIDAN, Zhao et al. 2023)",
    ),
    "djda": (
        {"weight": 1.0, "min_samples": 4},
        "DJDA: marginal + conditional MMD with a dynamic A-distance factor (2024)",
    ),
    "sinkhorn": (
        {"weight": 1.0, "epsilon": None},
        "Sinkhorn divergence between feature clouds (Feydy et al. 2019)",
    ),
    "deepjdot": (
        {"weight": 1.0, "alpha": 1.0, "lam": 1.0, "epsilon": None},
        "DeepJDOT: joint feature/label optimal transport (Damodaran et al. 2018)",
    ),
    "mi_decomposition": (
        {
            "weight": 1.0,
            "club_weight": 0.1,
            "domain_weight": 0.1,
            "posterior_hidden": (64,),
            "disc_hidden": (64,),
        },
        "invariant/specific feature split with MMD, CLUB and a domain classifier (MM 2022)",
    ),
}

DEEP_METHODS: tuple[str, ...] = tuple(_DEEP)
SHALLOW_METHODS: tuple[str, ...] = tuple(shallow.SHALLOW_METHODS)
METHODS: tuple[str, ...] = DEEP_METHODS + SHALLOW_METHODS
# Options of the shallow classes that the runner sets itself.
_SHALLOW_RESERVED = ("num_classes", "seed")


def is_deep(name: str) -> bool:
    """True for the deep (trained) methods, False for the shallow ones."""
    check_method(name)
    return name in _DEEP


def check_method(name: str) -> None:
    """Raises ``ValueError`` naming the valid methods if ``name`` is not one.

    Examples:
      >>> check_method("dann")
      >>> check_method("dnn")
      Traceback (most recent call last):
      ...
      ValueError: unknown method 'dnn' (did you mean 'dann'?); deep methods: source_only, corpus_norm, dan, jan, dann, cdan, cdan_e, mdd, mcd, dsan, deep_coral, ida, djda, sinkhorn, deepjdot, mi_decomposition; shallow methods: svm, logreg, tca, jda, sa, coral_transform, tsrg.
    """  # noqa: E501
    if name in METHODS:
        return
    import difflib

    close = difflib.get_close_matches(str(name), METHODS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"unknown method {name!r}{hint}; deep methods: {', '.join(DEEP_METHODS)}; "
        f"shallow methods: {', '.join(SHALLOW_METHODS)}."
    )


def method_defaults(name: str) -> dict[str, Any]:
    """The default options of a method (a copy).

    Examples:
      >>> method_defaults("dsan")
      {'weight': 0.5}
    """
    check_method(name)
    if name in _DEEP:
        return dict(_DEEP[name][0])
    probe = shallow.make_shallow(name)
    return {
        f.name: getattr(probe, f.name)
        for f in dataclasses.fields(probe)
        if f.name not in _SHALLOW_RESERVED
        and not (name in ("svm", "logreg") and f.name == "classifier")
    }


def method_normalize(name: str, default: str) -> str:
    """The feature normalisation a method runs with (see :data:`dalib.experiment.NORMALIZE`).

    ``default`` (the config's ``data.normalize``) for every method except
    ``corpus_norm``, which is defined by its per-corpus normalisation.

    Examples:
      >>> method_normalize("dan", "pooled"), method_normalize("corpus_norm", "pooled")
      ('pooled', 'domain')
    """
    return _NORMALIZE.get(name, default)


def method_description(name: str) -> str:
    """One line about a method (used by ``dalib run --help``)."""
    check_method(name)
    if name in _DEEP:
        return _DEEP[name][1]
    return f"shallow baseline {name} (dalib.shallow)"


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
    """The method's defaults updated with ``options`` (checked).

    Raises:
      ValueError: an option the method does not have (the valid ones are listed).
      TypeError: a value of another type than the default's.

    Examples:
      >>> resolve_options("dann", {"weight": 0.3})["weight"]
      0.3
    """
    defaults = method_defaults(name)
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
        out[key] = value
    if name not in _DEEP:
        shallow.make_shallow(name, **out)  # let the class check the values
    return out


# ------------------------------------------------------------------------------ deep


class _SliceClassifier(nnx.Module):
    """A linear classifier that reads the first ``split`` features only."""

    def __init__(self, split: int, num_classes: int, *, rngs: nnx.Rngs):
        self.split = split
        self.linear = nnx.Linear(split, num_classes, rngs=rngs)

    def __call__(self, x):
        return self.linear(x[:, : self.split])


class _Head(nnx.Module):
    """An MLP head ``features -> class logits`` (MDD's adversarial classifier)."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], out: int, *, rngs: nnx.Rngs):
        sizes = (in_features, *hidden, out)
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = nnx.relu(x)
        return x


@dataclasses.dataclass(frozen=True)
class DeepModel:
    """What :func:`build_deep` returns, the arguments of :func:`dalib.train.make_trainer`."""

    encoder: Any
    classifier: Any
    terms: tuple[Term, ...]
    optimizer: optax.GradientTransformation


def build_deep(
    name: str,
    options: Mapping[str, Any],
    *,
    in_features: int,
    num_classes: int,
    hidden: tuple[int, ...] = (256, 128),
    dropout: float = 0.1,
    steps: int = 1000,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    ramp: bool = True,
    ramp_gamma: float = 10.0,
    weight_scale: float = 1.0,
) -> DeepModel:
    r"""Builds the encoder, classifier, alignment terms and optimizer of a deep method.

    Args:
      name: a name of :data:`DEEP_METHODS`.
      options: the method's options (:func:`resolve_options`).
      in_features: input feature size ``D``.
      num_classes: number of classes ``C``.
      hidden: encoder layer sizes (the last is the feature size).
      dropout: encoder dropout.
      steps: training length (for the weight ramp).
      learning_rate: AdamW learning rate.
      weight_decay: AdamW weight decay.
      ramp: multiply every alignment weight by DANN's warm-up schedule.
      ramp_gamma: the schedule's :math:`\gamma`.
      weight_scale: multiplies every alignment weight (a selection grid).

    Returns:
      A :class:`DeepModel`.

    Examples:
      >>> model = build_deep("dann", method_defaults("dann"), in_features=10, num_classes=3,
      ...                    hidden=(16, 8), steps=10)
      >>> [t.name for t in model.terms]
      ['dann']
    """
    if name not in _DEEP:
        check_method(name)
        raise ValueError(f"{name!r} is a shallow method; build it with dalib.shallow.make_shallow.")
    o = resolve_options(name, options)
    d = int(hidden[-1])
    schedule = ops.dann_schedule(total_steps=steps, gamma=ramp_gamma) if ramp else None

    def weight(value: float):
        value = float(value) * weight_scale
        if schedule is None:
            return value
        return lambda step: value * schedule(step)

    def disc(in_dim: int, hid=None, drop=None):
        hid = tuple(o.get("disc_hidden", (256,)) if hid is None else hid)
        drop = o.get("disc_dropout", 0.5) if drop is None else drop
        return from_nnx(
            lambda rngs: DomainDiscriminator(in_dim, hidden=hid, dropout=drop, rngs=rngs)
        )

    encoder = from_nnx(lambda rngs: MLPEncoder(in_features, hidden, dropout=dropout, rngs=rngs))
    classifier = from_nnx(lambda rngs: nnx.Linear(d, num_classes, rngs=rngs))
    w = o.get("weight", 0.0)
    terms: list[Term]
    if name in ("source_only", "corpus_norm"):
        terms = []
    elif name == "dan":
        terms = [MMD(weight=weight(w), kernel=kernels.MultiGaussian.dan())]
    elif name == "jan":
        terms = [JMMD(weight=weight(w))]
    elif name == "dann":
        terms = [DomainAdversarial(weight=weight(w), network=disc(d))]
    elif name in ("cdan", "cdan_e"):
        terms = [
            ConditionalAdversarial(
                weight=weight(w),
                network=disc(d * num_classes),
                entropy_conditioning=name == "cdan_e",
                name=name,
            )
        ]
    elif name == "mdd":
        head = tuple(o["head_hidden"])
        terms = [
            MarginDisparity(
                weight=weight(w),
                margin=o["margin"],
                network=from_nnx(lambda rngs: _Head(d, head, num_classes, rngs=rngs)),
            )
        ]
    elif name == "mcd":
        terms = [
            ClassifierDiscrepancy(
                weight=weight(w),
                network=from_nnx(lambda rngs: nnx.Linear(d, num_classes, rngs=rngs)),
            )
        ]
    elif name == "dsan":
        terms = [LMMD(weight=weight(w))]
    elif name == "deep_coral":
        terms = [CORAL(weight=weight(w))]
    elif name == "ida":
        terms = [IDA(weight=weight(w), reg=o["reg"], class_wise=o["class_wise"])]
    elif name == "djda":
        terms = [JointAlignment(weight=weight(w), min_samples=o["min_samples"])]
    elif name == "sinkhorn":
        terms = [SinkhornDivergence(weight=weight(w), epsilon=o["epsilon"])]
    elif name == "deepjdot":
        terms = [DeepJDOT(weight=weight(w), alpha=o["alpha"], lam=o["lam"], epsilon=o["epsilon"])]
    else:  # mi_decomposition
        if d < 2:
            raise ValueError("mi_decomposition needs a feature size >= 2 to split it.")
        k = d // 2
        post = tuple(o["posterior_hidden"])
        classifier = from_nnx(lambda rngs: _SliceClassifier(k, num_classes, rngs=rngs))
        terms = [
            SliceDistance(weight=weight(w), split=k, name="mmd_invariant"),
            CLUBSplit(
                weight=weight(o["club_weight"]),
                split=k,
                network=from_nnx(lambda rngs: GaussianPosterior(k, d - k, hidden=post, rngs=rngs)),
            ),
            DomainClassifier(
                weight=weight(o["domain_weight"]),
                split=k,
                network=disc(d - k, o["disc_hidden"], 0.0),
            ),
        ]
    optimizer = optax.adamw(learning_rate, weight_decay=weight_decay)
    return DeepModel(encoder, classifier, tuple(terms), optimizer)
