"""The CDMER and composite protocols: every method on a small MER task, LOSO pooling, bad input."""

import csv
import json

import numpy as np
import pytest

from dalib import cli
from dalib.data import FeatureTable, load_table, save_table
from dalib.experiment import COMPOSITE, MER, registry

CLASSES = ("negative", "positive", "surprise")
TINY = ["--seeds", "1", "--set", "train.steps=8", "--set", "model.hidden=(8,)",
        "--set", "train.batch_size=8", "--set", "plots.kinds=()", "--quiet"]  # fmt: skip


def me_table(seed: int, shift: float, *, groups: bool = True, subjects: int = 3) -> FeatureTable:
    """Three classes in 4 regions of 3 features; a domain is a shift."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(7).normal(scale=2.0, size=(3, 12))
    y = np.repeat(np.arange(3), 8)
    x = centres[y] + rng.normal(size=(24, 12)) + shift
    return FeatureTable(
        features=x.astype(np.float32),
        labels=np.array(CLASSES)[y],
        subjects=np.array([f"sub{i % subjects}" for i in range(24)]),
        files=np.array([f"clip{i:02d}" for i in range(24)]),
        groups=np.repeat(np.arange(4), 3).astype(np.int32) if groups else None,
    )


@pytest.fixture(scope="module")
def me_tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("me_tables")
    paths = {}
    for k, code in enumerate("CHVNS"):
        t = me_table(k, 0.4 * k)
        paths[code] = root / f"{code}.npz"
        save_table(paths[code], t.features, t.labels, subjects=t.subjects, files=t.files,
                   groups=t.groups)  # fmt: skip
    return paths


def arg(paths, codes="CHVN"):
    return ",".join(f"{c}={paths[c]}" for c in codes)


def test_mer_protocol_is_data():
    assert [t.name for t in MER.tasks][:4] == ["C->H", "H->C", "C->V", "V->C"]
    assert len(MER.tasks) == 12 and MER.metrics[0] == "uf1"
    assert {t.name for t in MER.optional_tasks} == {"C->S", "S->C", "H->S", "S->H"}
    assert COMPOSITE.kind == "loso" and COMPOSITE.pooled == ("C", "H", "S")


FAST = ("source_only", "corpus_norm", "dan", *registry.names("shallow"))


@pytest.mark.parametrize(
    "names",
    [pytest.param(FAST, id="fast"), pytest.param(None, id="all", marks=pytest.mark.slow)],
)
def test_every_registered_method_runs_on_a_small_mer_task(me_tables, tmp_path, capsys, names):
    names = tuple(names or registry.names())
    methods = ",".join(names)
    out = tmp_path / "mer"
    argv = ["protocol", "mer", "--tables", arg(me_tables), "--tasks", "C->H",
            "--methods", methods, "--out", str(out), *TINY]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    text = (out / "results_uf1.md").read_text()
    assert text.startswith("UF1 (%)")
    for name in names:
        assert f"| {name} " in text
    with open(out / "results_uf1.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(names)
    assert all(0.0 <= float(r["C->H mean"]) <= 100.0 for r in rows)
    record = json.loads((out / "tgsr" / "C_to_H" / "seed_0" / "metrics.json").read_text())
    assert len(record["region_importance"]) == 4  # one value per region of the table


def test_samm_tasks_run_when_named(me_tables, tmp_path, capsys):
    argv = ["protocol", "mer", "--tables", arg(me_tables, "CS"), "--tasks", "C->S,S->C",
            "--methods", "svm", "--out", str(tmp_path / "s"), *TINY]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert "| svm " in (tmp_path / "s" / "results_uf1.md").read_text()


def test_region_method_without_groups_is_refused_before_any_run(me_tables, tmp_path, capsys):
    t = me_table(1, 0.5, groups=False)
    plain = tmp_path / "plain.npz"
    save_table(plain, t.features, t.labels, subjects=t.subjects)
    out = tmp_path / "out"
    argv = ["protocol", "mer", "--tables", f"C={me_tables['C']},H={plain}", "--tasks", "C->H",
            "--methods", "svm,tgsr", "--out", str(out), *TINY]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "tgsr" in err and "groups" in err and "'H'" in err
    assert not (out / "svm").exists()  # nothing ran


def test_a_tables_code_outside_the_protocol_is_named(me_tables, tmp_path, capsys):
    argv = ["protocol", "mer", "--tables", f"{arg(me_tables)},B={me_tables['C']}",
            "--methods", "svm", "--out", str(tmp_path / "o"), *TINY]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "'B'" in err and "mer" in err
    assert not (tmp_path / "o").exists()


def test_composite_pools_the_folds_and_scores_overall_and_per_database(me_tables, tmp_path):
    out = tmp_path / "comp"
    argv = ["protocol", "composite", "--tables", arg(me_tables, "CHS"),
            "--methods", "svm,tgsr", "--out", str(out), *TINY]  # fmt: skip
    assert cli.main(argv) == 0
    # 3 databases x 3 subjects: 9 folds per method.
    assert len(list((out / "svm").iterdir())) == 9
    text = (out / "results_uf1.md").read_text()
    assert "| method | C " in text.replace("  ", " ") or "overall" in text.splitlines()[2]
    # The pooled score equals UF1 over every fold's predictions, recomputed here.
    y, p = [], []
    for fold in (out / "svm").iterdir():
        with open(fold / "seed_0" / "predictions.csv") as f:
            for row in csv.DictReader(f):
                y.append(row["true"])
                p.append(row["predicted"])
    from sklearn.metrics import f1_score

    expected = 100 * f1_score(y, p, average="macro", labels=list(CLASSES))
    with open(out / "results_uf1.csv") as f:
        (svm,) = [r for r in csv.DictReader(f) if r["method"] == "svm"]
    assert float(svm["overall mean"]) == pytest.approx(expected, abs=1e-3)
    assert len(y) == 3 * 24  # every clip of C, H and S is predicted exactly once


def test_composite_in_two_shards_gives_the_single_run_tables(me_tables, tmp_path, capsys):
    argv = ["protocol", "composite", "--tables", arg(me_tables, "CHS"), "--methods", "svm", *TINY]
    assert cli.main([*argv, "--out", str(tmp_path / "whole")]) == 0
    split = str(tmp_path / "split")
    assert cli.main([*argv, "--out", split, "--shard", "2/2"]) == 0
    assert not (tmp_path / "split" / "results_uf1.csv").exists()  # shard 1's folds missing
    assert cli.main([*argv, "--out", split, "--tables-only"]) == 1  # tabulated, incomplete
    assert "INCOMPLETE: 5 of 9" in (tmp_path / "split" / "results_uf1.md").read_text()
    assert cli.main([*argv, "--out", split, "--shard", "1/2"]) == 0  # the last: writes them
    assert "shard 1/2: 5 run(s) done" in capsys.readouterr().out
    for name in ("results_uf1.csv", "results_uar.csv", "results_uf1.md"):
        whole = (tmp_path / "whole" / name).read_text()
        assert (tmp_path / "split" / name).read_text() == whole


def test_loso_folds_hold_out_each_subject_once(me_tables):
    from dalib.experiment.composite import loso_folds, pool_tables

    pooled = pool_tables({c: load_table(me_tables[c]) for c in "CH"})
    folds = loso_folds(pooled)
    assert len(folds) == 6
    for subject, (source, target) in folds.items():
        assert set(target.subjects.tolist()) == {subject}
        assert subject not in set(source.subjects.tolist())
        assert len(source) + len(target) == len(pooled)
