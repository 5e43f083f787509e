"""Experiment configs: overrides, validation, config files, the run identity."""

from pathlib import Path

import ml_collections
import pytest

from dalib.experiment import (
    apply_overrides,
    config_hash,
    default_config,
    load_config_file,
    protocol_config,
    registry,
    resolve_config,
)

METHODS = registry.names()
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_overrides_parse_literals_and_convert_numbers():
    c = apply_overrides(
        default_config(),
        [
            "train.steps=50",
            "train.learning_rate=1",  # int into a float field
            "model.hidden=(32, 16)",
            "data.classes=angry,sad",  # comma list into a tuple field
            "method=dann",  # bare word: a string
            "options.weight=0.3",  # method options are free-form until resolved
            "train.ramp=False",
        ],
    )
    assert c.train.steps == 50 and c.train.learning_rate == 1.0
    assert isinstance(c.train.learning_rate, float)
    assert c.model.hidden == (32, 16) and c.data.classes == ("angry", "sad")
    assert c.method == "dann" and c.options.weight == 0.3 and c.train.ramp is False
    assert default_config().train.steps == 1000  # the input is not modified


@pytest.mark.parametrize(
    "item,match",
    [
        ("train.stepz=5", "unknown key"),
        ("trian.steps=5", "unknown section 'trian'"),
        ("train=5", "is a section"),
        ("train.steps", "expects key=value"),
        ("train.steps=fast", "expected a value of type int"),
        ("train.ramp=1", "true/false"),
    ],
)
def test_bad_overrides_are_rejected(item, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(default_config(), [item])


@pytest.mark.parametrize(
    "field,value,error,match",
    [
        ("method", "dnn", ValueError, "did you mean 'dann'"),
        ("seeds", 0, ValueError, r"seeds` must be a positive int \(>= 1\), got 0"),
        ("data.normalize", "global", ValueError, r"data.normalize` must be one of .*'global'"),
        ("selection.criterion", "best", ValueError, r"criterion` must be one of .*'best'"),
        ("train.learning_rate", 0.0, ValueError, r"learning_rate` must be positive \(> 0\)"),
        ("model.hidden", (), ValueError, "model.hidden"),
    ],
)
def test_resolve_rejects_bad_values(field, value, error, match):
    c = default_config()
    section, _, key = field.rpartition(".")
    (c[section] if section else c)[key] = value
    with pytest.raises(error, match=match):
        resolve_config(c)


def test_resolve_checks_method_options():
    c = default_config()
    c.method = "dann"
    c.options.wieght = 1.0
    with pytest.raises(ValueError, match=r"no option\(s\) \['wieght'\]; its options: .*weight"):
        resolve_config(c)
    c = default_config()
    c.method = "dann"
    c.options.weight = "high"
    with pytest.raises(TypeError, match="option 'weight' of method 'dann'"):
        resolve_config(c)
    c = default_config()
    c.method = "tca"
    c.options.dim = 0
    with pytest.raises(ValueError, match="dim"):
        resolve_config(c)  # shallow options are checked by the class


def test_resolve_fills_in_method_defaults():
    c = default_config()
    c.method = "mdd"
    c.options.margin = 2
    options = resolve_config(c).options
    assert options.margin == 2.0 and options.weight == 1.0 and options.head_hidden == (128,)


def test_config_hash_ignores_seeds_and_plots_only():
    base = resolve_config(default_config())
    other = ml_collections.ConfigDict(base.to_dict())
    other.seeds, other.first_seed, other.plots.kinds = 7, 3, ()
    assert config_hash(other) == config_hash(base)
    other.train.steps = 999
    assert config_hash(other) != config_hash(base)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.py")), ids=lambda p: p.name)
def test_every_config_file_loads_and_resolves(path):
    config = load_config_file(path)
    resolved = resolve_config(config)
    if path.stem in METHODS:
        assert resolved.method == path.stem
    if path.stem in ("ser", "main"):
        assert resolved.protocol == "ser" and all(m in METHODS for m in resolved.methods)


def test_load_config_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config_file(tmp_path / "nope.py")
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    with pytest.raises(ValueError, match="no get_config"):
        load_config_file(bad)


def test_protocol_config_adds_sweep_fields():
    c = protocol_config()
    assert c.protocol == "ser" and c.tasks == () and c.corpora.synthetic
    assert set(c.methods) <= set(METHODS)
