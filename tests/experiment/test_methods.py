"""The method registry: names, defaults, and what each deep method is built from."""

import numpy as np
import pytest

from dalib import train as T
from dalib.experiment import (
    DEEP_METHODS,
    METHODS,
    SHALLOW_METHODS,
    build_deep,
    check_method,
    is_deep,
    method_defaults,
    resolve_config,
    resolve_options,
    run_pair,
)

from .conftest import tiny_config

# The method names of the public contract (API.md), spelled out independently.
API_DEEP = (
    "source_only dan jan dann cdan cdan_e mdd mcd dsan deep_coral ida djda sinkhorn deepjdot "
    "mi_decomposition"
).split()
API_SHALLOW = "svm logreg tca jda sa coral_transform tsrg".split()
# Baselines dalib adds to the contract's list.
EXTRA_DEEP = ["corpus_norm"]

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
}


def test_method_names_match_the_contract():
    assert [m for m in DEEP_METHODS if m not in EXTRA_DEEP] == API_DEEP
    assert list(SHALLOW_METHODS) == API_SHALLOW
    assert set(METHODS) == set(API_DEEP) | set(API_SHALLOW) | set(EXTRA_DEEP)
    assert all(is_deep(m) for m in API_DEEP + EXTRA_DEEP)
    assert not any(is_deep(m) for m in API_SHALLOW)


def test_unknown_method_suggests_the_closest_name():
    with pytest.raises(ValueError, match=r"unknown method 'cdane' \(did you mean 'cdan_e'\?\)"):
        check_method("cdane")


@pytest.mark.parametrize("name", API_DEEP + EXTRA_DEEP)
def test_build_deep_uses_the_method_terms(name):
    model = build_deep(
        name, method_defaults(name), in_features=10, num_classes=3, hidden=(16, 8), steps=100
    )
    assert [type(t) for t in model.terms] == TERMS[name]
    for term in model.terms:
        weight = term.weight(100) if callable(term.weight) else term.weight
        assert float(weight) > 0
        assert float(term.weight(0)) == 0.0  # DANN's warm-up starts at zero


def test_weight_scale_and_ramp():
    fixed = build_deep(
        "dan", {"weight": 2.0}, in_features=4, num_classes=2, ramp=False, weight_scale=0.5
    )
    assert fixed.terms[0].weight == 1.0
    ramped = build_deep("dan", {"weight": 2.0}, in_features=4, num_classes=2, steps=10)
    assert float(ramped.terms[0].weight(10)) == pytest.approx(2.0 * np.tanh(5.0), rel=1e-6)


def test_cdan_e_conditions_on_entropy_and_cdan_does_not():
    kw = dict(in_features=4, num_classes=2, hidden=(8,))
    assert build_deep("cdan_e", {}, **kw).terms[0].entropy_conditioning
    assert not build_deep("cdan", {}, **kw).terms[0].entropy_conditioning


def test_shallow_defaults_come_from_the_classes():
    assert method_defaults("tca")["dim"] == 100
    assert "classifier" not in method_defaults("svm")  # fixed by the name
    assert "seed" not in method_defaults("jda")  # set by the runner
    with pytest.raises(ValueError, match="shallow method"):
        build_deep("tca", {}, in_features=4, num_classes=2)


def test_resolve_options_converts_and_checks():
    assert resolve_options("sinkhorn", {"epsilon": 1}) == {"weight": 1.0, "epsilon": 1.0}
    with pytest.raises(TypeError, match="must be like"):
        resolve_options("mdd", {"head_hidden": 5})


@pytest.mark.slow
@pytest.mark.parametrize("name", API_DEEP + EXTRA_DEEP + API_SHALLOW)
def test_every_method_runs_end_to_end(name, pair, tmp_path):
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
