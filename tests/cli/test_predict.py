"""Unlabelled targets: `dalib run` adapts to and predicts them; `dalib predict` reuses the model."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from dalib.data import load_table, save_table
from dalib.experiment import RunSpec, fit_method, predict, prepare_task

from ..experiment.conftest import tiny_config
from .conftest import TINY, make_cli_table, run_cli

CLASSES = ["angry", "happy", "sad"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("unlabelled")
    labelled = make_cli_table(d / "labelled.npz", [*CLASSES, "surprise"], shift=1.0, seed=1)
    table = load_table(labelled)
    partial = table.labels.copy()
    partial[::3] = ""  # every third row unlabelled
    return {
        "S": make_cli_table(d / "src.npz", CLASSES),
        # no `labels` key at all
        "U": make_cli_table(d / "unl.npz", [*CLASSES, "surprise"], shift=1.0, seed=1, labels=False),
        "P": save_table(d / "partial.csv", table.features, partial, files=table.files),
        "partial_labels": partial,
        "D4": make_cli_table(d / "dim4.npz", ["angry", "sad"], dim=4),
    }


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def unlabelled_run(data, tmp_path_factory):
    """`dalib run` of source_only on the unlabelled target: (exit, stdout, stderr, out dir)."""
    from dalib import cli

    out = tmp_path_factory.mktemp("runs") / "u"
    argv = ["run", "--source", data["S"], "--target", data["U"], "--method", "source_only"]
    argv += ["--seeds", "1", "--out", out, *TINY]
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main([str(a) for a in argv])
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_run_on_a_target_without_labels(unlabelled_run, data):
    code, stdout, err, out = unlabelled_run
    assert code == 0, err
    run = out / "source_only" / "seed_0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["uar"] is None and metrics["war"] is None
    assert metrics["num_target_scored"] == 0 and metrics["num_target_adapted"] == 40
    assert metrics["classes"] == CLASSES  # the source's classes: nothing to intersect with
    for metric in ("uar", "war"):
        assert "unscored" in (out / f"results_{metric}.md").read_text()
    assert "unscored" in stdout
    rows = _read_csv(run / "predictions.csv")
    assert rows[0] == ["file", "true", "predicted", *(f"p_{c}" for c in CLASSES)]
    target = load_table(data["U"])
    assert [r[0] for r in rows[1:]] == target.files.tolist()  # every row, in order
    probs = np.array([[float(v) for v in r[3:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert [r[1] for r in rows[1:]] == [""] * 40
    assert [r[2] for r in rows[1:]] == [CLASSES[i] for i in probs.argmax(axis=1)]
    assert (run / "model" / "model.json").is_file()


def test_predict_in_a_new_process_repeats_the_run(unlabelled_run, data, tmp_path):
    *_, out = unlabelled_run
    run = out / "source_only" / "seed_0"
    target = tmp_path / "P.csv"
    command = [sys.executable, "-m", "dalib.cli", "predict", "--run", run]
    command += ["--table", data["U"], "--out", target]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    predicted = _read_csv(target)
    own = _read_csv(run / "predictions.csv")
    assert predicted[0] == ["file", "predicted", *(f"p_{c}" for c in CLASSES)]
    # the same rows, classes and probabilities (as written: 6 decimals) as the run's own
    assert predicted[1:] == [[r[0], *r[2:]] for r in own[1:]]


def test_predict_in_process_equals_the_fit(unlabelled_run, data):
    """The saved model reproduces the fitted probabilities, not only their 6 decimals."""
    *_, out = unlabelled_run
    spec = RunSpec.from_config(tiny_config())  # the budget of TINY
    source, target = load_table(data["S"]), load_table(data["U"])
    task = prepare_task(source, target, name="x", target_rows="all")
    fitted = fit_method(spec, task.adapt, 0)
    result = predict(out / "source_only" / "seed_0", target)
    assert result.classes == tuple(CLASSES)
    assert result.files.tolist() == target.files.tolist()
    np.testing.assert_array_equal(result.probs, fitted.scores)
    assert result.predictions.tolist() == [CLASSES[i] for i in fitted.predictions]


def test_run_on_a_partly_labelled_target_scores_the_labelled_rows(data, tmp_path, capsys):
    out = tmp_path / "p"
    argv = ["run", "--source", data["S"], "--target", data["P"], "--method", "source_only"]
    code, _, err = run_cli(capsys, *argv, "--seeds", 1, "--out", out, *TINY)
    assert code == 0, err
    run = out / "source_only" / "seed_0"
    labels = data["partial_labels"]
    scored = np.isin(labels, CLASSES)  # labelled, and of a class the model knows
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_target_adapted"] == 40
    assert metrics["num_target_scored"] == int(scored.sum()) == 20
    rows = _read_csv(run / "predictions.csv")[1:]
    assert len(rows) == 40
    expected = [lab if ok else "" for lab, ok in zip(labels, scored, strict=True)]
    assert [r[1] for r in rows] == expected
    # UAR over the scored rows only, recomputed here from the written predictions
    truth = np.array([r[1] for r in rows])[scored]
    guess = np.array([r[2] for r in rows])[scored]
    recalls = [np.mean(guess[truth == c] == c) for c in CLASSES]
    assert metrics["uar"] == pytest.approx(np.mean(recalls), abs=1e-12)
    assert "unscored" not in (out / "results_uar.md").read_text()
    assert "20 of 40 scored" in (out / "results_uar.md").read_text()


def test_predict_refuses_a_shallow_run(data, tmp_path, capsys):
    out = tmp_path / "svm"
    argv = ["run", "--source", data["S"], "--target", data["U"], "--method", "svm"]
    code, _, err = run_cli(capsys, *argv, "--seeds", 1, "--out", out, *TINY)
    assert code == 0, err
    target = tmp_path / "P.csv"
    argv = ["predict", "--run", out / "svm" / "seed_0", "--table", data["U"], "--out", target]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "holds no saved model" in err and "shallow" in err, err
    assert "Traceback" not in err and not target.exists()


def test_predict_refuses_a_table_of_another_feature_size(unlabelled_run, data, tmp_path, capsys):
    *_, out = unlabelled_run
    target = tmp_path / "P.csv"
    run = out / "source_only" / "seed_0"
    code, _, err = run_cli(capsys, "predict", "--run", run, "--table", data["D4"], "--out", target)
    assert code == 2, err
    assert "trained on 6 features per row, the table has 4" in err
    assert not target.exists()


@pytest.mark.parametrize("where", ["file", "under_file", "suffix"])
def test_predict_checks_its_output_first(unlabelled_run, data, tmp_path, capsys, where):
    *_, out = unlabelled_run
    blocker = tmp_path / "blocker.csv"
    blocker.write_text("keep")
    target = {
        "file": tmp_path,  # a folder where a file is wanted
        "under_file": blocker / "P.csv",
        "suffix": tmp_path / "P.txt",
    }[where]
    run = out / "source_only" / "seed_0"
    code, _, err = run_cli(capsys, "predict", "--run", run, "--table", data["U"], "--out", target)
    assert code == 2 and "--out" in err, err
    assert blocker.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker.csv"]
