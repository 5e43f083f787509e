"""RunSpec: a config unpacked once into frozen, typed sections; the run identity."""

import dataclasses

import ml_collections
import pytest

from dalib.experiment import (
    ORACLE_LABEL,
    RunSpec,
    config_hash,
    default_config,
    protocol_config,
    registry,
)


def _config(method="dann", **fields):
    c = default_config()
    c.method = method
    for key, value in fields.items():
        section, _, leaf = key.rpartition("__")
        (c[section] if section else c)[leaf] = value
    return c


def test_spec_is_frozen_all_the_way_down():
    spec = RunSpec.from_config(_config())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.method = "dan"
    for section in (spec.data, spec.model, spec.train, spec.selection, spec.plots):
        field = dataclasses.fields(section)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(section, field, None)
    # sequences are tuples, not lists someone could append to
    assert isinstance(spec.model.hidden, tuple) and isinstance(spec.seeds, tuple)
    assert isinstance(spec.plots.kinds, tuple) and isinstance(spec.selection.grid, tuple)


def test_spec_fills_the_method_defaults_and_types():
    spec = RunSpec.from_config(_config("mdd", options=ml_collections.ConfigDict({"margin": 2})))
    assert dict(spec.options) == {**registry.get("mdd").defaults, "margin": 2.0}
    assert isinstance(spec.options["margin"], float)
    assert spec.config["options"] == dict(spec.options)  # what config.json records
    assert spec.seeds == (0, 1, 2) and spec.deep and spec.entry is registry.get("mdd")
    c = _config("svm", seeds=2, first_seed=5)
    shallow = RunSpec.from_config(c)
    assert shallow.seeds == (5, 6) and not shallow.deep
    assert dict(shallow.options) == registry.get("svm").defaults


def test_spec_takes_a_plain_dict_as_well():
    c = _config()
    assert RunSpec.from_config(c.to_dict()) == RunSpec.from_config(c)
    assert RunSpec.from_config(c.to_dict()).hash == RunSpec.from_config(c).hash


@pytest.mark.parametrize(
    "key,value,match,seen",
    [
        ("train__batch_size", 0, "train.batch_size", "0"),
        ("train__steps", 2.5, "train.steps", "2.5"),
        ("train__weight_decay", -1.0, "train.weight_decay", "-1.0"),
        ("train__ramp_gamma", 0.0, "train.ramp_gamma", "0.0"),
        ("train__log_every", 0, "train.log_every", "0"),
        ("model__dropout", 1.0, "model.dropout", "1.0"),
        ("model__hidden", (8, 1), "model.hidden", "(8, 1)"),
        ("data__target_rows", "some", "data.target_rows", "'some'"),
        ("selection__checkpoints", 0, "selection.checkpoints", "0"),
        ("selection__validation_fraction", 0.6, "selection.validation_fraction", "0.6"),
        ("selection__grid", (1.0, -1.0), "selection.grid", "-1.0"),
        ("plots__kinds", ("pie",), "plots.kinds", "'pie'"),
        ("plots__tsne_max_points", 0, "plots.tsne_max_points", "0"),
        ("first_seed", -1, "first_seed", "-1"),
    ],
)
def test_spec_rejects_bad_values_naming_the_field(key, value, match, seen):
    c = _config().to_dict()  # a plain dict: ConfigDict would refuse some types itself
    section, _, leaf = key.rpartition("__")
    (c[section] if section else c)[leaf] = value
    with pytest.raises(ValueError, match=match) as err:
        RunSpec.from_config(c)
    assert seen in str(err.value)


def test_spec_rejects_bad_options_naming_the_method():
    with pytest.raises(ValueError, match=r"'dann' has no option\(s\) \['wieght'\]"):
        RunSpec.from_config(_config(options=ml_collections.ConfigDict({"wieght": 1.0})))
    with pytest.raises(TypeError, match="option 'weight' of method 'dann'"):
        RunSpec.from_config(_config(options=ml_collections.ConfigDict({"weight": "high"})))


def test_labels_name_the_selection():
    assert RunSpec.from_config(_config()).label == "dann"
    assert RunSpec.from_config(_config(selection__criterion="snd")).label == "dann [sel: snd]"
    oracle = RunSpec.from_config(_config(selection__criterion="oracle"))
    assert oracle.label == f"dann [{ORACLE_LABEL}]"
    assert RunSpec.from_config(_config("svm", selection__criterion="snd")).label == "svm"


# Each field of a run config, with another valid value: (section__leaf, value).
CHANGES_RESULTS = [
    ("method", "dan"),
    ("data__normalize", "domain"),
    ("data__target_rows", "shared"),
    ("data__classes", ("angry", "sad")),
    ("data__input", "logmel"),
    ("model__hidden", (16,)),
    ("model__dropout", 0.2),
    ("train__steps", 999),
    ("train__batch_size", 32),
    ("train__recipe", "mdd"),
    ("train__learning_rate", 2e-3),
    ("train__weight_decay", 0.0),
    ("train__ramp", False),
    ("train__ramp_gamma", 5.0),
    ("train__log_every", 20),
    ("train__vmap_seeds", True),  # the same numbers up to float round-off
    ("selection__criterion", "snd"),
    ("selection__checkpoints", 4),
    ("selection__grid", (1.0, 2.0)),
    ("selection__validation_fraction", 0.3),
]
DOES_NOT = [
    ("seeds", 7),
    ("first_seed", 3),
    ("save_model", False),
    ("plots__kinds", ()),
    ("plots__seeds", 2),
    ("plots__tsne_seeds", 0),
    ("plots__tsne_max_points", 100),
]
# The encoder fields change a run on log-mel input; on feature vectors (the
# MLP) they are idle and leave the identity of runs made before they existed.
ENCODER_FIELDS = [
    ("model__encoder", "transformer"),
    ("model__channels", (8, 16)),
    ("model__heads", 2),
    ("model__layers", 1),
    ("model__downsample", 2),
]


def test_the_field_lists_cover_every_field_of_a_run_config():
    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and k != "options":
                yield from leaves(v, f"{prefix}{k}__")
            elif k != "options":
                yield f"{prefix}{k}"

    listed = {k for k, _ in CHANGES_RESULTS + DOES_NOT + ENCODER_FIELDS}
    assert set(leaves(default_config().to_dict())) == listed


@pytest.mark.parametrize("key,value", [*CHANGES_RESULTS, ("options", {"weight": 0.5})])
def test_config_hash_changes_with_every_field_that_changes_results(key, value):
    if key == "options":
        value = ml_collections.ConfigDict(value)
    assert config_hash(_config(**{key: value})) != config_hash(_config())


@pytest.mark.parametrize("key,value", DOES_NOT)
def test_config_hash_ignores_seeds_plots_and_save_model(key, value):
    assert config_hash(_config(**{key: value})) == config_hash(_config())


@pytest.mark.parametrize("key,value", ENCODER_FIELDS)
def test_config_hash_sees_the_encoder_fields_on_logmel_input(key, value):
    base = {"data__input": "logmel", "model__encoder": "cnn"}
    assert config_hash(_config(**{**base, key: value})) != config_hash(_config(**base))


@pytest.mark.parametrize("key,value", [*ENCODER_FIELDS[1:], ("model__encoder", "mlp")])
def test_config_hash_ignores_idle_encoder_fields_on_feature_vectors(key, value):
    assert config_hash(_config(**{key: value})) == config_hash(_config())


def test_config_hash_of_a_config_without_the_input_fields_is_unchanged():
    old = _config().to_dict()  # a config.json written before data.input / model.encoder
    del old["data"]["input"]
    for key in ("encoder", "channels", "heads", "layers", "downsample"):
        del old["model"][key]
    assert RunSpec.from_config(old).hash == config_hash(_config())
    assert RunSpec.from_config(old).model.encoder == "mlp"


def test_config_hash_sees_the_defaults_filled_in():
    explicit = _config(options=ml_collections.ConfigDict(registry.get("dann").defaults))
    assert config_hash(explicit) == config_hash(_config())


def test_a_sweep_config_hashes_each_method_run_alone():
    """The sweep-level fields (methods, tasks, protocol, corpora) are not a run's identity:
    a run's data is identified by the tables' fingerprints (``data_hash``)."""
    c = protocol_config()
    c.method = "dann"
    other = ml_collections.ConfigDict(c.to_dict())
    other.methods = ("dann",)
    other.tasks = ("B->E",)
    other.corpora.tables = "B=b.npz"
    assert config_hash(other) == config_hash(c)


def test_identity_follows_the_method_revision_and_the_recipe_values(monkeypatch):
    """Runs of an older method revision or other recipe values are not resumed as complete."""
    import dataclasses

    from dalib.experiment import recipes, registry

    c = _config()
    c.method = "mdd"
    spec = RunSpec.from_config(c)
    assert spec.config["train"]["recipe_values"] == recipes.MDD.values()
    before = spec.hash  # (the property reads the registry when it is called)
    method = registry.get("mdd")
    slower = dataclasses.replace(method.recipe, decay_alpha=10.0)
    monkeypatch.setitem(registry._REGISTRY, "mdd", dataclasses.replace(method, recipe=slower))
    assert RunSpec.from_config(c).hash != before  # same name, other values
    monkeypatch.setitem(registry._REGISTRY, "mdd", dataclasses.replace(method, revision=2))
    assert RunSpec.from_config(c).hash != before  # same values, newer revision
    monkeypatch.setitem(registry._REGISTRY, "mdd", method)
    assert RunSpec.from_config(c).hash == before
    assert registry.get("cdan").revision == 1  # its loss scale changed (issue 14)
    # The house recipe adds nothing: source_only keeps its identity.
    c.method = "source_only"
    assert "recipe_values" not in RunSpec.from_config(c).config["train"]
    with pytest.raises(ValueError, match="revision"):
        dataclasses.replace(method, revision=-1)
