"""Adding a method is one registry entry: it then runs through `dalib run` and `dalib protocol`."""

import csv
import json

import pytest

from dalib.experiment import RunSpec, fitting, registry
from dalib.train import Entropy

from ..cli.conftest import TINY, run_cli, ser_tables_arg, write_tables

NAME = "entmin_test"


def _entmin_parts(ctx):
    return registry.DeepParts(terms=(Entropy(weight=ctx.weight(ctx.options["weight"])),))


@pytest.fixture
def entmin():
    """A method the library does not have: entropy minimisation on the target predictions."""
    method = registry.register(
        registry.Method(
            name=NAME,
            family="deep",
            description="entropy minimisation on the target predictions (test entry)",
            reference="Grandvalet & Bengio 2005, NeurIPS",
            defaults={"weight": 0.1},
            build=_entmin_parts,
        )
    )
    yield method
    registry.unregister(NAME)
    assert NAME not in registry.names()


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return write_tables(tmp_path_factory.mktemp("tables"))


def test_a_registered_method_is_listed_with_its_reference(entmin, capsys):
    code, out, _ = run_cli(capsys, "methods")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith(NAME + " "))
    assert "deep" in line and "entropy minimisation" in line
    assert "reference: Grandvalet & Bengio 2005, NeurIPS" in out
    assert "weight=0.1" in out
    for name in registry.names():  # and every other method, with its reference
        assert f"\n{name} " in "\n" + out
        assert f"reference: {registry.get(name).reference}" in out
    spec = RunSpec.from_config({**_plain_config(), "method": NAME, "options": {"weight": 0.3}})
    assert spec.options == {"weight": 0.3} and spec.deep


def _plain_config():
    from dalib.experiment import default_config

    return default_config().to_dict()


def test_a_registered_method_runs_through_dalib_run(entmin, tables, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--source", tables["B"], "--target", tables["E"], "--method", NAME]
    # the defaults, as in the protocol test below: one compiled program serves both
    code, stdout, err = run_cli(capsys, *argv, "--seeds", 1, "--out", out, *TINY)
    assert code == 0, err
    run = out / NAME / "seed_0"
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == NAME and config["options"] == {"weight": 0.1}
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["uar"] <= 1.0 and metrics["method"] == NAME
    with open(run / "history.csv") as f:
        header = next(csv.reader(f))
    assert "entropy/value" in header  # the registered term was trained
    assert f"| {NAME} |" in stdout
    assert (run / "model" / "model.json").is_file()  # deep runs save their model


def test_a_registered_method_runs_through_dalib_protocol(entmin, tables, tmp_path, capsys):
    out = tmp_path / "protocol"
    code, stdout, err = run_cli(
        capsys,
        "protocol",
        "ser",
        "--tables",
        ser_tables_arg(tables),
        "--methods",
        f"{NAME},source_only",
        "--tasks",
        "B->E",
        "--seeds",
        1,
        "--out",
        out,
        *TINY,
    )
    assert code == 0, err
    assert (out / NAME / "B_to_E" / "seed_0" / "COMPLETE").is_file()
    table = (out / "results_uar.md").read_text()
    assert f"| {NAME} " in table and "| source_only " in table
    assert f"| {NAME} " in stdout


def test_options_of_a_registered_method_are_checked(entmin, tables, tmp_path, capsys):
    argv = ["run", "--source", tables["S"], "--target", tables["T"], "--method", NAME]
    code, _, err = run_cli(capsys, *argv, "--set", "options.wieght=1.0", "--out", tmp_path / "o")
    assert code == 2 and "has no option(s) ['wieght']; its options: weight" in err
    code, _, err = run_cli(capsys, *argv, "--set", "options.weight=-1.0", "--out", tmp_path / "o")
    assert code == 2 and "must be >= 0" in err
    assert not (tmp_path / "o").exists()


def test_register_refuses_duplicates_and_bad_entries(entmin):
    with pytest.raises(ValueError, match="registered already"):
        registry.register(entmin)
    with pytest.raises(ValueError, match="family"):
        registry.Method("x", "medium", "d", "r", {}, _entmin_parts)
    with pytest.raises(ValueError, match="identifier"):
        registry.Method("not a name", "deep", "d", "r", {}, _entmin_parts)
    assert registry.names().count(NAME) == 1


def test_replacing_an_entry_rebuilds_its_program():
    """register(..., replace=True) must not reuse the compiled program of the old entry."""
    from dalib.experiment import default_config
    from dalib.train import BNM

    def spec():
        c = default_config()
        c.method = NAME
        return RunSpec.from_config(c)

    entry = dict(name=NAME, family="deep", description="d", reference="r", defaults={"weight": 1.0})
    try:
        registry.register(registry.Method(**entry, build=_entmin_parts))
        first = fitting.build_trainer(spec(), in_features=4, num_classes=2)
        bnm = registry.DeepParts(terms=(BNM(weight=1.0),))
        registry.register(registry.Method(**entry, build=lambda ctx: bnm), replace=True)
        second = fitting.build_trainer(spec(), in_features=4, num_classes=2)
    finally:
        registry.unregister(NAME)
    assert [type(t) for t in first.terms] == [Entropy]
    assert [type(t) for t in second.terms] == [BNM]
