import json

import numpy as np
import pytest

from dalib.experiment import protocols


def test_six_ser_tasks_with_field_class_sets():
    tasks = protocols.ser_tasks()
    assert [t.name for t in tasks] == ["B->E", "E->B", "B->C", "C->B", "E->C", "C->E"]
    by = {t.name: t.classes for t in tasks}
    assert by["B->E"] == ("angry", "disgust", "fear", "happy", "sad")
    assert by["C->B"] == ("angry", "fear", "happy", "neutral", "sad")
    assert by["E->C"] == ("angry", "fear", "happy", "sad", "surprise")
    with pytest.raises(ValueError, match=r"unknown ser task\(s\) \[.B->X.\]"):
        protocols.ser_tasks(["B->X"])


def test_map_classes_intersection_and_report():
    s = np.array(["angry", "sad", "boredom", "sad", "happy"])
    t = np.array(["sad", "angry", "surprise", "happy", "happy"])
    mapping, s_keep, s_y, t_keep, t_y = protocols.map_classes(s, t)
    assert mapping.classes == ("angry", "happy", "sad")
    assert mapping.dropped_source == {"boredom": 1}
    assert mapping.dropped_target == {"surprise": 1}
    np.testing.assert_array_equal(s_keep, [True, True, False, True, True])
    np.testing.assert_array_equal(s_y, [0, 2, 2, 1])
    np.testing.assert_array_equal(t_y, [2, 0, 1, 1])
    assert t_keep.sum() == 4
    assert "dropped from source: boredom (1 samples)" in mapping.describe()


def test_map_classes_errors():
    with pytest.raises(ValueError, match="share 1 class"):
        protocols.map_classes(["a", "b"], ["b", "c"])
    with pytest.raises(ValueError, match="absent from the target"):
        protocols.map_classes(["a", "b"], ["a", "c"], classes=["a", "b"])


# ------------------------------------------------------------------ protocols as data

DUO = protocols.Protocol(
    name="duo_test",
    title="a two-domain protocol defined in a test",
    domains={"P": "p_corpus", "Q": "q_corpus"},
    tasks=(protocols.ProtocolTask("P", "Q", ("angry", "happy", "sad")),),
    feature_set="is09",
    metrics=("uf1", "uar"),
    synthetic=None,
)


@pytest.fixture
def duo(tmp_path):
    """DUO registered, and its two tables (three shared classes) written."""
    from dalib.data import save_table

    from .conftest import make_pair

    paths = {}
    for code, table in zip("PQ", make_pair(), strict=True):
        paths[code] = save_table(
            tmp_path / f"{code}.npz", table.features, table.labels, files=table.files
        )
    protocols.register_protocol(DUO)
    yield f"P={paths['P']},Q={paths['Q']}"
    protocols.PROTOCOLS.pop(DUO.name)


def _duo_config(tables):
    from dalib.experiment import protocol_config

    c = protocol_config()
    c.protocol = DUO.name
    c.methods = ("source_only", "svm")
    c.seeds = 1
    c.corpora.tables = tables
    c.model.hidden, c.train.steps, c.train.batch_size = (8,), 12, 8
    c.train.log_every, c.selection.checkpoints, c.plots.kinds = 4, 3, ()
    return c


def test_a_new_protocol_value_runs_through_the_generic_sweep(duo, tmp_path):
    from dalib.experiment import run_protocol

    result = run_protocol(_duo_config(duo), tmp_path / "out", progress=False)
    assert result.ok, result.failures
    assert list(result.tables) == ["uf1", "uar"]  # the headline metric first
    out = tmp_path / "out"
    assert (out / "results_uf1.md").read_text().startswith("UF1")
    assert (out / "results_uar.csv").is_file() and not (out / "results_war.md").exists()
    record = json.loads((out / "svm" / "P_to_Q" / "seed_0" / "metrics.json").read_text())
    assert record["protocol"] == DUO.name and record["task"] == "P->Q"
    assert record["classes"] == ["angry", "happy", "sad"]
    assert record["class_mapping"]["dropped_source"] == {"boredom": 10}
    # a protocol keeps the closed-set convention (data.target_rows=shared) and says so
    assert record["num_target_scored"] == 30 and record["num_target_adapted"] == 30
    assert DUO.convention in (out / "results_uf1.md").read_text()
    table = result.tables["uf1"]
    assert table.cell("svm", "P->Q")[0] == pytest.approx(100 * record["uf1"])


def test_a_new_protocol_is_offered_by_the_command_line(duo, tmp_path, capsys):
    from dalib import cli

    argv = ["protocol", DUO.name, "--tables", duo, "--methods", "source_only,svm"]
    argv += ["--seeds", "1", "--out", str(tmp_path / "out"), "--quiet"]
    argv += ["--set", "model.hidden=(8,)", "--set", "train.steps=12"]
    argv += ["--set", "train.batch_size=8", "--set", "train.log_every=4"]
    argv += ["--set", "selection.checkpoints=3", "--set", "plots.kinds=()"]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("UF1") and "P->Q" in out
    assert out.index("UF1") < out.index("UAR")
