"""The built-in methods in the registry: names, defaults, what each deep method is built from."""

import dataclasses

import numpy as np
import pytest

from dalib import train as T
from dalib.experiment import (
    RunSpec,
    build_trainer,
    fitting,
    registry,
    resolve_config,
    run_pair,
)
from dalib.experiment.registry import DeepContext

from .conftest import DIM, tiny_config

# The method names of the public contract (API.md), spelled out independently.
API_DEEP = (
    "source_only dan jan dann cdan cdan_e mdd mcd dsan deep_coral ida djda sinkhorn deepjdot "
    "mi_decomposition"
).split()
API_SHALLOW = "svm logreg tca jda sa coral_transform tsrg".split()
API_REGION = ["tgsr", "rstr"]  # shallow, region-aware (MER): they read the feature groups
# Methods dalib adds to the contract's list.
EXTRA_DEEP = ["corpus_norm", "bnm", "mcc", "tann"]
EXTRA_REGION = ["tann"]  # deep and region-aware: its encoder reads the feature groups

TERMS = {
    "source_only": [],
    "corpus_norm": [],
    "dan": [T.MMD],
    "jan": [T.JMMD],
    "dann": [T.DomainAdversarial],
    "cdan": [T.ConditionalAdversarial],
    "cdan_e": [T.ConditionalAdversarial],
    "mdd": [T.MarginDisparity],
    "mcd": [T.ClassifierDiscrepancy],
    "dsan": [T.LMMD],
    "deep_coral": [T.CORAL],
    "ida": [T.IDA],
    "djda": [T.JointAlignment],
    "sinkhorn": [T.SinkhornDivergence],
    "deepjdot": [T.DeepJDOT],
    "mi_decomposition": [T.SliceDistance, T.CLUBSplit, T.DomainClassifier],
    "bnm": [T.BNM],
    "mcc": [T.MCC],
    "tann": [T.RegionAdversarial],
}


@pytest.fixture(autouse=True)
def _own_program_cache(monkeypatch):
    """Programs built here are not the shared tiny ones: keep them out of the shared cache."""
    monkeypatch.setattr(fitting, "_PROGRAMS", {})


def _spec(name, *, steps=100, ramp=True, **options):
    c = tiny_config(name, **options)
    c.train.steps = steps
    c.train.ramp = ramp
    return RunSpec.from_config(c)


def _terms(name, *, weight=None, options=None):
    """The terms of ``name`` built straight from its registry entry."""
    method = registry.get(name)
    resolved = registry.resolve_options(name, options or {})
    groups = np.arange(10) // 2 if method.needs_groups else None
    ctx = DeepContext(resolved, 8, 3, weight or (lambda v: float(v)), 10, groups)
    return method.build(ctx)


def test_method_names_match_the_contract():
    deep, shallow = registry.names("deep"), registry.names("shallow")
    assert [m for m in deep if m not in EXTRA_DEEP] == API_DEEP
    assert list(shallow) == API_SHALLOW + API_REGION
    everything = set(API_DEEP) | set(API_SHALLOW) | set(API_REGION) | set(EXTRA_DEEP)
    assert set(registry.names()) == everything
    assert all(registry.get(m).deep for m in API_DEEP + EXTRA_DEEP)
    assert not any(registry.get(m).deep for m in API_SHALLOW + API_REGION)
    assert [m for m in registry.names() if registry.get(m).needs_groups] == (
        EXTRA_REGION + API_REGION
    )
    for name in registry.names():  # every entry is documented
        m = registry.get(name)
        assert m.name == name and m.description.strip() and m.reference.strip()


def test_unknown_method_suggests_the_closest_name():
    with pytest.raises(ValueError, match=r"unknown method 'cdane' \(did you mean 'cdan_e'\?\)"):
        registry.get("cdane")


@pytest.mark.parametrize("name", API_DEEP + EXTRA_DEEP)
def test_deep_methods_build_their_terms(name):
    groups = np.arange(10) // 2 if name in EXTRA_REGION else None
    trainer = build_trainer(_spec(name), in_features=10, num_classes=3, groups=groups)
    assert [type(t) for t in trainer.terms] == TERMS[name]
    assert [type(t) for t in _terms(name).terms] == TERMS[name]
    warmup = registry.get(name).recipe.warmup
    for term in trainer.terms:
        if warmup == "weight":
            assert float(term.weight(100)) > 0
            assert float(term.weight(0)) == 0.0  # DANN's warm-up starts at zero
        else:  # the recipe warms the reversal up (or nothing): the weight is fixed
            assert float(term.weight) > 0
        if warmup == "reversal":
            assert float(term.reversal(0)) == 0.0 and float(term.reversal(100)) > 0


def test_weight_scale_and_ramp():
    fixed = build_trainer(
        _spec("dan", ramp=False, weight=2.0), in_features=4, num_classes=2, weight_scale=0.5
    )
    assert fixed.terms[0].weight == 1.0
    ramped = build_trainer(_spec("dan", steps=10, weight=2.0), in_features=4, num_classes=2)
    assert float(ramped.terms[0].weight(10)) == pytest.approx(2.0 * np.tanh(5.0), rel=1e-6)


def test_cdan_e_conditions_on_entropy_and_cdan_does_not():
    assert _terms("cdan_e").terms[0].entropy_conditioning
    assert not _terms("cdan").terms[0].entropy_conditioning


def test_mcc_temperature_reaches_its_term():
    (term,) = _terms("mcc", options={"temperature": 1.5}).terms
    assert term.temperature == 1.5


def test_shallow_defaults_come_from_the_classes():
    assert registry.get("tca").defaults["dim"] == 100
    assert "classifier" not in registry.get("svm").defaults  # fixed by the name
    assert "seed" not in registry.get("jda").defaults  # set by the runner
    assert not registry.get("tca").deep
    with pytest.raises(ValueError, match="dim"):
        registry.resolve_options("tca", {"dim": 0})


def test_resolve_options_converts_and_checks():
    assert registry.resolve_options("sinkhorn", {"epsilon": 1}) == {"weight": 1.0, "epsilon": 1.0}
    with pytest.raises(TypeError, match="must be like"):
        registry.resolve_options("mdd", {"head_hidden": 5})
    with pytest.raises(ValueError, match="loss weight and must be >= 0"):
        registry.resolve_options("dann", {"weight": -1.0})


@pytest.mark.slow
@pytest.mark.parametrize("name", API_DEEP + EXTRA_DEEP + API_SHALLOW + API_REGION)
def test_every_method_runs_end_to_end(name, pair, tmp_path):
    if name in API_REGION + EXTRA_REGION:  # three "regions" of two feature columns each
        pair = tuple(dataclasses.replace(t, groups=np.arange(DIM) // 2) for t in pair)
    config = tiny_config(name)
    config.seeds = 1
    config.plots.kinds = ("confusion", "curves")
    if name == "tsrg":
        config.options.max_iter = 20
    result = run_pair(config, *pair, tmp_path, progress=False)
    assert result.ok, result.failures
    record = result.records[0]
    assert 0.0 <= record["uar"] <= 1.0
    assert resolve_config(config).method == name
