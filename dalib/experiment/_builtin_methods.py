r"""The built-in methods: one :func:`~dalib.experiment.registry.register` call each.

The defaults are the papers' or their reference code's settings, made
independent of the feature scale where those were not; they were fixed before
any result on target labels was seen and are not tuned per corpus pair.

``mi_decomposition`` (after the hybrid max-min mutual-information SER method of
ACM MM 2022) splits the encoder output :math:`F = [U, V]` into a
domain-invariant half :math:`U` and a domain-specific half :math:`V`: the
emotion classifier reads :math:`U` only; a domain classifier on :math:`V`
(trained with the encoder, no reversal) maximises a Barber–Agakov bound on
:math:`I(V; \text{domain})`; the CLUB upper bound on :math:`I(U; V)` is
minimised; and the MMD between source and target :math:`U` is minimised. It is
our simplified reading of the paper's idea, not a reproduction of its
architecture (a Transformer on log-mel segments there, an MLP on functionals here).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from flax import nnx

from dalib import kernels, shallow
from dalib.experiment import recipes
from dalib.experiment.registry import DeepContext, DeepParts, Method, register
from dalib.nn import DomainDiscriminator, GaussianPosterior, RegionAttentionEncoder
from dalib.train import (
    BNM,
    CORAL,
    IDA,
    JMMD,
    LMMD,
    MCC,
    MMD,
    ClassifierDiscrepancy,
    CLUBSplit,
    ConditionalAdversarial,
    DeepJDOT,
    DomainAdversarial,
    DomainClassifier,
    JointAlignment,
    MarginDisparity,
    RegionAdversarial,
    SinkhornDivergence,
    SliceDistance,
    from_nnx,
)

# TLlib's DomainDiscriminator (batch_norm=True): two hidden layers of 1024, each
# Linear -> norm -> ReLU, with LayerNorm where it has BatchNorm (no batch statistics
# in the functional step); see dalib.experiment.recipes.
_DISC = {"disc_hidden": (1024, 1024), "disc_dropout": 0.0, "disc_layer_norm": True}


class _SliceClassifier(nnx.Module):
    """A linear classifier that reads the first ``split`` features only."""

    def __init__(self, split: int, num_classes: int, *, rngs: nnx.Rngs):
        self.split = split
        self.linear = nnx.Linear(split, num_classes, rngs=rngs)

    def __call__(self, x):
        return self.linear(x[:, : self.split])


class _Head(nnx.Module):
    """An MLP head ``features -> class logits``: ``Linear -> ReLU -> Dropout`` per hidden layer.

    MDD's heads (TLlib ``mdd.ImageClassifier``: main and adversarial alike).
    """

    def __init__(
        self,
        in_features: int,
        hidden: tuple[int, ...],
        out: int,
        *,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        sizes = (in_features, *hidden, out)
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.dropout(nnx.relu(x))
        return x


class _ClassifierHead(nnx.Module):
    """MCD's classifiers (TLlib ``mcd.ImageClassifierHead``; the paper's three FC layers).

    ``Dropout -> [Linear -> LayerNorm -> ReLU -> Dropout]* -> Linear``, the last
    hidden layer without the dropout after it, LayerNorm where the reference has
    BatchNorm (no batch statistics in the functional step).
    """

    def __init__(self, d: int, hidden: tuple[int, ...], out: int, *, dropout, rngs: nnx.Rngs):
        sizes = (d, *hidden)
        self.linears = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.norms = nnx.List([nnx.LayerNorm(b, rngs=rngs) for b in hidden])
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.out = nnx.Linear(sizes[-1], out, rngs=rngs)

    def __call__(self, x):
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=True)):
            x = nnx.relu(norm(linear(self.dropout(x) if i == 0 else x)))
            if i < len(self.linears) - 1:
                x = self.dropout(x)
        return self.out(x)


class _NormDiscriminator(nnx.Module):
    """TLlib's ``DomainDiscriminator``: ``Linear -> LayerNorm -> ReLU (-> Dropout)`` per layer."""

    def __init__(self, in_features: int, hidden, dropout: float, *, rngs: nnx.Rngs):
        sizes = (in_features, *hidden)
        self.linears = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.norms = nnx.List([nnx.LayerNorm(b, rngs=rngs) for b in hidden])
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.out = nnx.Linear(sizes[-1], 1, rngs=rngs)

    def __call__(self, x):
        for linear, norm in zip(self.linears, self.norms, strict=True):
            x = self.dropout(nnx.relu(norm(linear(x))))
        return self.out(x)[:, 0]


def _disc(in_dim: int, hidden, dropout: float, layer_norm: bool = False):
    hidden = tuple(hidden)
    if layer_norm:
        return from_nnx(lambda rngs: _NormDiscriminator(in_dim, hidden, dropout, rngs=rngs))
    return from_nnx(
        lambda rngs: DomainDiscriminator(in_dim, hidden=hidden, dropout=dropout, rngs=rngs)
    )


def _w(ctx: DeepContext, key: str = "weight"):
    return ctx.weight(ctx.options[key])


def _deep(name, description, reference, defaults, build, **kwargs) -> None:
    register(Method(name, "deep", description, reference, defaults, build, **kwargs))


def _no_terms(ctx: DeepContext) -> DeepParts:
    return DeepParts()


_deep(
    "source_only",
    "no adaptation: source cross-entropy only",
    "the usual baseline",
    {},
    _no_terms,
)
_deep(
    "corpus_norm",
    "source-only MLP on features z-normalised per corpus, each with its own statistics: the "
    "cheapest adaptation baseline",
    "Schuller et al. 2010, cross-corpus acoustic emotion recognition",
    {},
    _no_terms,
    normalize="domain",
)
_deep(
    "dan",
    "DAN: multi-kernel MMD on the features",
    "Long et al. 2015, ICML (TLlib's kernel settings)",
    {"weight": 1.0},
    lambda ctx: DeepParts((MMD(weight=_w(ctx), kernel=kernels.MultiGaussian.dan()),)),
)
_deep(
    "jan",
    "JAN: joint MMD of features and predictions",
    "Long et al. 2017, ICML",
    {"weight": 1.0},
    lambda ctx: DeepParts((JMMD(weight=_w(ctx)),)),
)
def _disc_of(ctx: DeepContext, in_dim: int):
    o = ctx.options
    return _disc(in_dim, o["disc_hidden"], o["disc_dropout"], o["disc_layer_norm"])


_deep(
    "dann",
    "DANN: domain discriminator + gradient reversal",
    "Ganin et al. 2016, JMLR; TLlib dann.py",
    {"weight": 1.0, **_DISC},
    lambda ctx: DeepParts(
        (
            DomainAdversarial(
                weight=_w(ctx),
                network=_disc_of(ctx, ctx.feature_dim),
                reversal=ctx.reversal,
            ),
        )
    ),
    recipe=recipes.ADVERSARIAL,
)


def _cdan(entropy: bool):
    def build(ctx: DeepContext) -> DeepParts:
        network = _disc_of(ctx, ctx.feature_dim * ctx.num_classes)
        name = "cdan_e" if entropy else "cdan"
        term = ConditionalAdversarial(
            weight=_w(ctx),
            network=network,
            entropy_conditioning=entropy,
            # TLlib (and the CDAN authors' code) average the cross-entropy over the
            # concatenated batch: half the sum of the two domains' means.
            average_domains=True,
            name=name,
            reversal=ctx.reversal,
        )
        return DeepParts((term,))

    return build


_deep(
    "cdan",
    "CDAN: discriminator on features x predictions",
    "Long et al. 2018, NeurIPS; TLlib cdan.py",
    {"weight": 1.0, **_DISC},
    _cdan(False),
    recipe=recipes.ADVERSARIAL,
    revision=1,  # 1: the domain loss averaged over the joint batch (was the sum)
)
_deep(
    "cdan_e",
    "CDAN+E: CDAN with entropy conditioning",
    "Long et al. 2018, NeurIPS; TLlib cdan.py --entropy",
    {"weight": 1.0, **_DISC},
    _cdan(True),
    recipe=recipes.ADVERSARIAL,
    revision=1,  # 1: the domain loss averaged over the joint batch (was the sum)
)


def _mdd(ctx: DeepContext) -> DeepParts:
    o, d, c = ctx.options, ctx.feature_dim, ctx.num_classes
    head, drop = tuple(o["head_hidden"]), o["head_dropout"]

    def make_head():
        return from_nnx(lambda rngs: _Head(d, head, c, dropout=drop, rngs=rngs))

    term = MarginDisparity(
        weight=_w(ctx), margin=o["margin"], network=make_head(), reversal=ctx.reversal
    )
    # TLlib's MDD classifier: the main head has the adversarial head's structure.
    return DeepParts((term,), classifier=make_head())


_deep(
    "mdd",
    "MDD: margin disparity discrepancy",
    "Zhang et al. 2019, ICML; TLlib mdd.py (heads of the bottleneck's width)",
    {"weight": 1.0, "margin": 4.0, "head_hidden": (128,), "head_dropout": 0.5},
    _mdd,
    recipe=recipes.MDD,
)


def _mcd(ctx: DeepContext) -> DeepParts:
    o, d, c = ctx.options, ctx.feature_dim, ctx.num_classes
    head, drop = tuple(o["head_hidden"]), o["head_dropout"]

    def make_head():
        if not head:  # two linear classifiers (before 2026-11-30): collapse, docs/experiments.md
            return from_nnx(lambda rngs: nnx.Linear(d, c, rngs=rngs))
        return from_nnx(lambda rngs: _ClassifierHead(d, head, c, dropout=drop, rngs=rngs))

    # c1 (the trainer's classifier) and c2 (the term's network): the same MLP head.
    term = ClassifierDiscrepancy(weight=_w(ctx), network=make_head())
    return DeepParts((term,), classifier=make_head())


_deep(
    "mcd",
    "MCD: maximum classifier discrepancy",
    "Saito et al. 2018, CVPR; TLlib mcd.py (MLP heads, width of the bottleneck)",
    {"weight": 1.0, "head_hidden": (128, 128), "head_dropout": 0.5},
    _mcd,
    recipe=recipes.MCD,
)
_deep(
    "dsan",
    "DSAN: local (class-conditional) MMD",
    "Zhu et al. 2020, IEEE TNNLS (DeepDA's settings)",
    {"weight": 0.5},
    lambda ctx: DeepParts((LMMD(weight=_w(ctx)),)),
)
_deep(
    "deep_coral",
    "Deep CORAL: covariance alignment",
    "Sun & Saenko 2016, ECCV workshops",
    {"weight": 1.0},
    lambda ctx: DeepParts((CORAL(weight=_w(ctx)),)),
)
_deep(
    "ida",
    "IDA: implicit alignment by sample reconstruction",
    "DIDAN, Zhao et al. 2023 (our reading; see dalib.losses.ida)",
    {"weight": 1.0, "reg": 1.0, "class_wise": False},
    lambda ctx: DeepParts(
        (IDA(weight=_w(ctx), reg=ctx.options["reg"], class_wise=ctx.options["class_wise"]),)
    ),
)
_deep(
    "djda",
    "DJDA: marginal + conditional MMD with a dynamic A-distance factor",
    "deep joint distribution alignment for SER, 2024",
    {"weight": 1.0, "min_samples": 4},
    lambda ctx: DeepParts(
        (JointAlignment(weight=_w(ctx), min_samples=ctx.options["min_samples"]),)
    ),
)
_deep(
    "sinkhorn",
    "Sinkhorn divergence between feature clouds (ott-jax)",
    "Feydy et al. 2019, AISTATS",
    {"weight": 1.0, "epsilon": None},
    lambda ctx: DeepParts((SinkhornDivergence(weight=_w(ctx), epsilon=ctx.options["epsilon"]),)),
)
_deep(
    "deepjdot",
    "DeepJDOT: joint feature/label optimal transport",
    "Damodaran et al. 2018, ECCV",
    {"weight": 1.0, "alpha": 1.0, "lam": 1.0, "epsilon": None},
    lambda ctx: DeepParts(
        (
            DeepJDOT(
                weight=_w(ctx),
                alpha=ctx.options["alpha"],
                lam=ctx.options["lam"],
                epsilon=ctx.options["epsilon"],
            ),
        )
    ),
)


def _mi_decomposition(ctx: DeepContext) -> DeepParts:
    o, d, c = ctx.options, ctx.feature_dim, ctx.num_classes
    if d < 2:
        raise ValueError("mi_decomposition needs a feature size >= 2 to split it.")
    k = d // 2
    post = tuple(o["posterior_hidden"])
    terms = (
        SliceDistance(weight=_w(ctx), split=k, name="mmd_invariant"),
        CLUBSplit(
            weight=_w(ctx, "club_weight"),
            split=k,
            network=from_nnx(lambda rngs: GaussianPosterior(k, d - k, hidden=post, rngs=rngs)),
        ),
        DomainClassifier(
            weight=_w(ctx, "domain_weight"), split=k, network=_disc(d - k, o["disc_hidden"], 0.0)
        ),
    )
    classifier = from_nnx(lambda rngs: _SliceClassifier(k, c, rngs=rngs))
    return DeepParts(terms, classifier)


_deep(
    "mi_decomposition",
    "invariant/specific feature split with MMD, CLUB and a domain classifier",
    "hybrid max-min MI SER, ACM MM 2022 (our simplified reading)",
    {
        "weight": 1.0,
        "club_weight": 0.1,
        "domain_weight": 0.1,
        "posterior_hidden": (64,),
        "disc_hidden": (64,),
    },
    _mi_decomposition,
)
_deep(
    "bnm",
    "BNM: batch nuclear-norm maximisation of the target predictions",
    "Cui et al. 2020, CVPR",
    {"weight": 1.0},
    lambda ctx: DeepParts((BNM(weight=_w(ctx)),)),
)
_deep(
    "mcc",
    "MCC: minimum class confusion on the target predictions",
    "Jin et al. 2020, ECCV",
    {"weight": 1.0, "temperature": 2.5},
    lambda ctx: DeepParts((MCC(weight=_w(ctx), temperature=ctx.options["temperature"]),)),
)



def _tann(ctx: DeepContext) -> DeepParts:
    o, d = ctx.options, ctx.feature_dim
    if ctx.groups is None:
        raise ValueError(
            "method 'tann' needs the table's feature `groups` (its regions: the LLD group of "
            "each openSMILE column, the face block of each LBP-TOP column), but the task has "
            "none; use tables with groups (openSMILE tables with their column names, "
            "`dalib features --set lbptop`, or `dalib import-mat --groups`)"
        )
    groups = np.asarray(ctx.groups)
    region_hidden, disc_hidden = tuple(o["region_hidden"]), tuple(o["disc_hidden"])

    def encoder(rngs):
        return RegionAttentionEncoder(
            groups,
            d,
            region_hidden=region_hidden,
            disc_hidden=disc_hidden,
            dropout=ctx.dropout,
            disc_dropout=o["disc_dropout"],
            rngs=rngs,
        )

    r = int(np.unique(groups).size)
    term = RegionAdversarial(weight=_w(ctx), feature_dim=d, num_regions=r)
    classifier = from_nnx(lambda rngs: _SliceClassifier(d, ctx.num_classes, rngs=rngs))
    return DeepParts((term,), classifier, encoder=from_nnx(encoder))


_deep(
    "tann",
    "TANN: per-region encoders, region and sample discriminators, transferability attention",
    "Li et al. 2021, Neurocomputing (our reading for feature-table regions; see "
    "dalib.nn.RegionAttentionEncoder)",
    {"weight": 1.0, "region_hidden": (16,), "disc_hidden": (64,), "disc_dropout": 0.5},
    _tann,
    needs_groups=True,
)

# Options of the shallow classes that the runner sets itself.
_SHALLOW_RESERVED = ("num_classes", "seed")
_SHALLOW_TEXT = {
    "svm": ("source-only linear SVM", "scikit-learn LinearSVC"),
    "logreg": ("source-only logistic regression", "scikit-learn LogisticRegression"),
    "tca": ("transfer component analysis", "Pan et al. 2011, IEEE TNN"),
    "jda": ("joint distribution adaptation", "Long et al. 2013, ICCV"),
    "sa": ("subspace alignment", "Fernando et al. 2013, ICCV"),
    "coral_transform": ("CORAL feature transform", "Sun et al. 2016, AAAI"),
    "tsrg": ("target sample re-generator", "Zong et al. 2017"),
}


def _register_shallow(name: str) -> None:
    probe = shallow.make_shallow(name)
    fixed = ("classifier",) if name in ("svm", "logreg") else ()
    defaults = {
        f.name: getattr(probe, f.name)
        for f in dataclasses.fields(probe)
        if f.name not in _SHALLOW_RESERVED and f.name not in fixed
    }
    description, reference = _SHALLOW_TEXT.get(
        name, (f"shallow method {name}", (type(probe).__doc__ or "").strip().splitlines()[0])
    )

    def build(options, num_classes, seed):
        return shallow.make_shallow(name, **options, num_classes=num_classes, seed=seed)

    register(
        Method(
            name,
            "shallow",
            description,
            reference,
            defaults,
            build,
            needs_groups=bool(getattr(probe, "needs_groups", False)),
        )
    )


for _name in shallow.SHALLOW_METHODS:
    _register_shallow(_name)
