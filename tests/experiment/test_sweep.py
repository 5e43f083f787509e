"""Tasks, fitting and sweeps: class mapping, honest training, selection, outputs, resumption."""

import csv
import dataclasses
import json

import numpy as np
import pytest

from dalib.experiment import (
    ORACLE_LABEL,
    ConfigMismatchError,
    RunSpec,
    fit_method,
    prepare_task,
    run_pair,
    sweep,
    table_fingerprint,
)

from .conftest import make_table, tiny_config


def _task(pair, **kwargs):
    source, target = pair
    return prepare_task(source, target, name="S->T", **kwargs)


def test_prepare_task_maps_shared_classes_and_reports_the_rest(pair):
    task = _task(pair)
    assert task.classes == ("angry", "happy", "sad")
    assert task.mapping.dropped_source == {"boredom": 10}
    assert task.mapping.dropped_target == {"surprise": 10}
    assert len(task.adapt.source_labels) == 30 and len(task.target_labels) == 30
    assert set(task.target_labels.tolist()) == {0, 1, 2}
    assert "dropped from target: surprise (10 samples)" in task.mapping.describe()


def test_prepare_task_all_target_rows_marks_unshared_rows(pair):
    task = _task(pair, target_rows="all")
    assert len(task.adapt.target_features) == 40
    assert int((task.target_labels == -1).sum()) == 10
    assert int(task.scored.sum()) == 30


def test_prepare_task_normalisation_modes(pair):
    pooled = _task(pair).adapt  # the default: one map for both domains
    both = np.concatenate([pooled.source_features, pooled.target_features])
    np.testing.assert_allclose(both.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(both.std(0), 1.0, atol=1e-4)
    gap = pooled.target_features.mean(0) - pooled.source_features.mean(0)
    assert np.linalg.norm(gap) > 0.5  # the domain shift is kept
    source = _task(pair, normalize="source").adapt
    np.testing.assert_allclose(source.source_features.mean(0), 0.0, atol=1e-5)
    domain = _task(pair, normalize="domain").adapt
    for x in (domain.source_features, domain.target_features):
        np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-5)
        np.testing.assert_allclose(x.std(0), 1.0, atol=1e-4)
    speaker = _task(pair, normalize="speaker").adapt
    spk = pair[0].speakers[pair[0].labels != "boredom"]
    np.testing.assert_allclose(speaker.source_features[spk == "s0"].mean(0), 0.0, atol=1e-5)
    raw = _task(pair, normalize="none").adapt
    keep = pair[1].labels != "surprise"
    np.testing.assert_array_equal(raw.target_features, pair[1].features[keep])


def test_prepare_task_rejects_tables_of_different_feature_sizes(pair):
    other = make_table(["angry", "sad"], dim=4)
    with pytest.raises(ValueError, match=r"source table has 6 features .* target table has 4"):
        prepare_task(pair[0], other, name="x")


def test_prepare_task_rejects_tables_without_shared_classes(pair):
    other = make_table(["fear", "disgust"])
    with pytest.raises(ValueError, match="share 0 class"):
        prepare_task(pair[0], other, name="x")


def test_fit_is_reproducible_and_depends_on_the_seed(pair):
    spec = RunSpec.from_config(tiny_config())
    data = _task(pair).adapt
    a, b, c = fit_method(spec, data, 0), fit_method(spec, data, 0), fit_method(spec, data, 1)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    assert not np.array_equal(a.scores, c.scores)
    assert a.history["step"] == [4, 8, 12]
    assert a.selection["criterion"] == "last" and not a.selection["uses_target_labels"]


# The permuted- and poisoned-label tests of every method are in test_labels.py.


def test_label_free_selection_scores_every_checkpoint(pair):
    config = tiny_config()
    config.selection.criterion = "snd"
    fitted = fit_method(RunSpec.from_config(config), _task(pair).adapt, 0)
    candidates = fitted.selection["candidates"]
    assert [c["step"] for c in candidates] == [4, 8, 12]
    scores = [c["score"] for c in candidates]
    assert fitted.selection["chosen"]["score"] == max(scores)  # SND: higher is better
    assert not fitted.selection["uses_target_labels"]


def test_dev_selection_holds_out_source_rows(pair):
    config = tiny_config()
    config.selection.criterion = "dev"
    fitted = fit_method(RunSpec.from_config(config), _task(pair).adapt, 0)
    assert fitted.selection["source_rows_held_out"] == 6  # 20 % of 10 rows, per class
    assert all(np.isfinite(c["score"]) for c in fitted.selection["candidates"])


def test_oracle_selection_is_labelled_everywhere(pair, tmp_path):
    config = tiny_config()
    config.selection.criterion = "oracle"
    config.seeds = 1
    label = RunSpec.from_config(config).label
    assert ORACLE_LABEL in label
    result = run_pair(config, *pair, tmp_path, progress=False)
    assert result.ok
    for metric in ("uar", "war"):
        text = (tmp_path / f"results_{metric}.md").read_text()
        assert text.count(ORACLE_LABEL) >= 2  # the row and the note
        assert ORACLE_LABEL in (tmp_path / f"results_{metric}.csv").read_text()
    metrics = json.loads((tmp_path / "source_only" / "seed_0" / "metrics.json").read_text())
    assert metrics["selection"]["uses_target_labels"] is True
    assert ORACLE_LABEL in metrics["label"]


def test_run_pair_writes_every_output_and_resumes(pair, tmp_path):
    config = tiny_config()
    config.plots.kinds = ("confusion", "curves", "tsne")
    config.plots.tsne_max_points = 40
    result = run_pair(config, *pair, tmp_path, task_name="S->T", progress=False)
    assert result.ok and result.ran == 2 and result.skipped == 0
    run0 = tmp_path / "source_only" / "seed_0"
    for name in (
        "config.json",
        "metrics.json",
        "predictions.csv",
        "history.csv",
        "confusion.png",
        "curves.png",
        "tsne.png",
        "COMPLETE",
    ):
        assert (run0 / name).is_file(), name
    assert not (tmp_path / "source_only" / "seed_1" / "tsne.png").exists()  # first seed only
    metrics = json.loads((run0 / "metrics.json").read_text())
    assert metrics["class_mapping"]["dropped_source"] == {"boredom": 10}
    # run_pair's default is data.target_rows=all: every target row is adapted to and
    # predicted; the 10 "surprise" rows (not a source class) are not scored.
    assert 0.0 <= metrics["uar"] <= 1.0 and metrics["num_target_scored"] == 30
    assert metrics["num_target_adapted"] == 40
    with open(run0 / "predictions.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "true", "predicted", "p_angry", "p_happy", "p_sad"]
    assert len(rows) == 41 and rows[1][0].startswith("t_")
    truth = {r[0]: r[1] for r in rows[1:]}
    target = pair[1]
    for f, label in zip(target.files, target.labels, strict=True):
        assert truth[f] == ("" if label == "surprise" else label)
    for r in rows[1:]:
        assert sum(float(v) for v in r[3:]) == pytest.approx(1.0, abs=1e-5)
    table = (tmp_path / "results_uar.md").read_text()
    assert "| source_only |" in table and "S->T" in table
    assert "Target rows: all (30 of 40 scored)" in table

    again = run_pair(config, *pair, tmp_path, task_name="S->T", progress=False)
    assert again.ran == 0 and again.skipped == 2
    assert (tmp_path / "results_uar.md").read_text() == table

    (tmp_path / "source_only" / "seed_1" / "COMPLETE").unlink()  # an interrupted run
    redo = run_pair(config, *pair, tmp_path, task_name="S->T", progress=False)
    assert redo.ran == 1 and redo.skipped == 1
    assert (tmp_path / "results_uar.md").read_text() == table  # same seed, same numbers

    config.train.steps = 8
    with pytest.raises(ConfigMismatchError, match="another configuration"):
        run_pair(config, *pair, tmp_path, task_name="S->T", progress=False)


def test_a_failed_run_is_reported_and_not_passed_off_as_complete(pair, tmp_path, monkeypatch):
    real_run_one = sweep.run_one

    def flaky(spec, task, seed, *args, **kwargs):
        if seed == 1:
            raise RuntimeError("boom")
        return real_run_one(spec, task, seed, *args, **kwargs)

    monkeypatch.setattr(sweep, "run_one", flaky)
    result = run_pair(tiny_config(), *pair, tmp_path, progress=False)
    assert not result.ok and result.missing == 1
    assert result.failures[0].seed == 1 and "boom" in result.failures[0].error
    assert not (tmp_path / "source_only" / "seed_1" / "COMPLETE").exists()
    table = (tmp_path / "results_uar.md").read_text()
    assert "INCOMPLETE: 1 of 2 requested runs" in table


def test_run_pair_refuses_finished_runs_made_on_other_data(pair, tmp_path):
    source, target = pair
    config = tiny_config()
    config.seeds = 1
    assert run_pair(config, source, target, tmp_path, progress=False).ok
    record = json.loads((tmp_path / "source_only" / "seed_0" / "metrics.json").read_text())
    assert record["data_hash"] == (table_fingerprint(source) + ":" + table_fingerprint(target))
    changed = dataclasses.replace(target, features=target.features + np.float32(0.5))
    with pytest.raises(ConfigMismatchError, match="other data"):
        run_pair(config, source, changed, tmp_path, progress=False)
    relabelled = dataclasses.replace(source, labels=source.labels[::-1].copy())
    with pytest.raises(ConfigMismatchError, match="other data"):
        run_pair(config, relabelled, target, tmp_path, progress=False)


def test_table_fingerprint_sees_every_column(pair):
    source, _ = pair
    base = table_fingerprint(source)
    assert table_fingerprint(dataclasses.replace(source)) == base
    bumped = source.features.copy()
    bumped[3, 2] = np.nextafter(bumped[3, 2], np.float32(np.inf))
    assert table_fingerprint(dataclasses.replace(source, features=bumped)) != base
    files = source.files.copy()
    files[0] = "other"
    assert table_fingerprint(dataclasses.replace(source, files=files)) != base
    assert table_fingerprint(dataclasses.replace(source, speakers=None)) != base


def test_corpus_norm_is_source_only_on_per_corpus_normalised_features(pair):
    # corpus_norm = the source_only network trained on data.normalize="domain".
    cn = RunSpec.from_config(tiny_config("corpus_norm"))
    assert cn.data.normalize == "domain"
    so = tiny_config()
    so.data.normalize = "domain"
    so = RunSpec.from_config(so)
    a = fit_method(cn, _task(pair, normalize="domain").adapt, 0)
    b = fit_method(so, _task(pair, normalize="domain").adapt, 0)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.scores, b.scores)
    # Whatever data.normalize says, corpus_norm normalises per corpus.
    pooled = tiny_config("corpus_norm")
    pooled.data.normalize = "pooled"
    assert RunSpec.from_config(pooled).data.normalize == "domain"


def test_run_pair_with_corpus_norm_normalises_per_corpus(pair, tmp_path):
    source, target = pair
    config = tiny_config("corpus_norm")
    config.seeds = 1
    result = run_pair(config, source, target, tmp_path, progress=False)
    assert result.ok
    so = tiny_config()
    so.seeds = 1
    so.data.normalize = "domain"
    # run_pair adapts to every target row by default (data.target_rows=all)
    ref_task = _task(pair, normalize="domain", target_rows="all")
    ref = fit_method(RunSpec.from_config(so), ref_task.adapt, 0)
    with open(tmp_path / "corpus_norm" / "seed_0" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    classes = _task(pair).classes
    assert [r["predicted"] for r in rows] == [classes[i] for i in ref.predictions]
    assert "corpus_norm: each corpus on its own" in (tmp_path / "results_uar.md").read_text()


def test_plots_seeds_limits_the_drawings_to_the_first_seeds(pair, tmp_path):
    config = tiny_config()
    config.seeds = 2
    config.plots.kinds = ("confusion", "curves")
    config.plots.seeds = 1
    assert run_pair(config, *pair, tmp_path, progress=False).ok
    seed0, seed1 = (tmp_path / "source_only" / f"seed_{k}" for k in (0, 1))
    assert (seed0 / "confusion.png").is_file() and (seed0 / "curves.png").is_file()
    assert not list(seed1.glob("*.png")) and (seed1 / "COMPLETE").is_file()
    assert json.loads((seed1 / "metrics.json").read_text())["plots"] == []


def test_run_pair_with_shared_target_rows_keeps_the_closed_set(pair, tmp_path):
    config = tiny_config()
    config.seeds = 1
    config.data.target_rows = "shared"
    record = run_pair(config, *pair, tmp_path, progress=False).records[0]
    assert record["num_target_adapted"] == 30 and record["num_target_scored"] == 30
    with open(tmp_path / "source_only" / "seed_0" / "predictions.csv") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 31 and "surprise" not in {r[1] for r in rows}
