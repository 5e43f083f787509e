"""Label-free run diagnostics: entropies, proxy A-distance, the settle check, the metrics block."""

import io
import json
import math

import numpy as np
import pytest

from dalib.experiment import RunSpec, diagnostics, prepare_task, run_one

from .conftest import make_pair, tiny_config


def _entropies_loop(p):
    rows = []
    for row in p:
        rows.append(-sum(v * math.log(v) for v in row if v > 0))
    mean = [sum(p[i][c] for i in range(len(p))) / len(p) for c in range(len(p[0]))]
    return sum(rows) / len(rows), -sum(v * math.log(v) for v in mean if v > 0)


def test_prediction_entropy_matches_a_loop_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(37, 5)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p[0] = [1, 0, 0, 0, 0]  # 0 log 0 = 0
    out = diagnostics.prediction_entropy(p)
    mean_row, of_mean = _entropies_loop(p.tolist())
    assert out["mean_row"] == pytest.approx(mean_row, rel=1e-12)
    assert out["of_mean"] == pytest.approx(of_mean, rel=1e-12)
    assert out["normalised_of_mean"] == pytest.approx(of_mean / math.log(5))
    assert out["of_mean"] >= out["mean_row"]  # concavity
    shares = np.bincount(p.argmax(1), minlength=5) / 37
    np.testing.assert_allclose(out["predicted_class_fraction"], shares)


def test_class_collapse_shows_in_the_entropy_of_the_mean():
    confident_spread = np.eye(4)[np.arange(40) % 4]  # confident, every class used
    collapsed = np.tile([[0.4, 0.3, 0.2, 0.1]], (40, 1))  # unsure, all rows in class 0
    a = diagnostics.prediction_entropy(confident_spread)
    b = diagnostics.prediction_entropy(collapsed)
    assert a["mean_row"] == 0.0 and a["normalised_of_mean"] == pytest.approx(1.0)
    assert b["of_mean"] == pytest.approx(b["mean_row"])  # identical rows
    assert b["predicted_class_fraction"] == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((0, 3)), np.ones((4, 1)), -np.ones((2, 2))])
def test_prediction_entropy_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="probs"):
        diagnostics.prediction_entropy(bad)


def _sklearn_a_distance(xs, xt, seed):
    """2(1 - 2 err) of a logistic regression on a random half of each domain (sklearn)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    ps, pt = rng.permutation(len(xs)), rng.permutation(len(xt))
    hs, ht = len(xs) // 2, len(xt) // 2
    x_train = np.concatenate([xs[ps[:hs]], xt[pt[:ht]]])
    y_train = np.r_[np.ones(hs), np.zeros(ht)]
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(x_train, y_train)
    err_s = np.mean(clf.predict(xs[ps[hs:]]) != 1)
    err_t = np.mean(clf.predict(xt[pt[ht:]]) != 0)
    return max(0.0, 2 * (1 - 2 * 0.5 * (err_s + err_t)))


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0, 4.0])
def test_a_distance_of_the_block_agrees_with_sklearn(shift):
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(300, 8))
    xt = rng.normal(size=(260, 8))
    xt[:, 0] += shift
    probs = np.full((260, 3), 1 / 3)
    ours = [
        diagnostics.deep_diagnostics(xs, xt, probs, {"step": [1]}, [], seed=s)["a_distance"][
            "features"
        ]
        for s in range(8)
    ]
    reference = np.mean([_sklearn_a_distance(xs, xt, s) for s in range(8)])
    assert all(0.0 <= v <= 2.0 for v in ours)
    # one split's estimate varies by about 0.08 (sd): compare means over 8 splits
    assert np.mean(ours) == pytest.approx(reference, abs=0.1)
    if shift == 4.0:
        assert min(ours) > 1.8


def _history(values, every=10):
    return {"step": [every * (i + 1) for i in range(len(values))], "g/domain_accuracy": values}


def test_settle_check_flags_an_oscillating_game_and_not_a_settled_one():
    rng = np.random.default_rng(0)
    swing = 0.55 + 0.35 * np.sin(np.arange(100) / 2.0)  # 0.2 .. 0.9, as in issue 14
    settled = 0.55 + 0.015 * rng.normal(size=100)  # window noise of 10 x (64 + 64) rows
    a = diagnostics.settle_check(_history(swing.tolist()), "g/domain_accuracy")
    b = diagnostics.settle_check(_history(settled.tolist()), "g/domain_accuracy")
    assert a["status"] == "oscillating" and a["std"] > 0.1 and a["windows"] == 20
    assert b["status"] == "settled" and b["std"] < 0.05
    assert a["from_step"] == 810  # windows ending after step 800 of 1000


def test_settle_check_reads_only_the_last_fraction():
    early_swing = [0.2, 0.9] * 40 + [0.52] * 20  # oscillates, then settles in the last 20 %
    assert diagnostics.settle_check(_history(early_swing), "g/domain_accuracy")["status"] == (
        "settled"
    )
    late_swing = [0.52] * 80 + [0.2, 0.9] * 10
    assert diagnostics.settle_check(_history(late_swing), "g/domain_accuracy")["status"] == (
        "oscillating"
    )


def test_settle_check_flags_a_winning_discriminator_and_short_histories():
    winning = diagnostics.settle_check(_history([0.97] * 50), "g/domain_accuracy")
    assert winning["status"] == "discriminator_wins"
    short = diagnostics.settle_check(_history([0.2, 0.9]), "g/domain_accuracy")
    assert short["status"] == "too_short"
    # Fewer than min_windows windows in the last 20 %: the last min_windows are used.
    few = diagnostics.settle_check(_history([0.5] * 7 + [0.2, 0.9, 0.2]), "g/domain_accuracy")
    assert few["windows"] == 3 and few["status"] == "oscillating"
    with pytest.raises(ValueError, match="fraction"):
        diagnostics.settle_check(_history([0.5] * 9), "g/domain_accuracy", fraction=0.0)


def test_warnings_reach_the_block_and_stderr():
    probs = np.full((10, 2), 0.5)
    x = np.random.default_rng(0).normal(size=(10, 3))
    swing = _history([0.2, 0.9] * 30)
    block = diagnostics.deep_diagnostics(x, x, probs, swing, ["g/domain_accuracy"], seed=0)
    assert block["settled"] is False and len(block["warnings"]) == 1
    assert "oscillates" in block["warnings"][0]
    stream = io.StringIO()
    record = {"label": "dann", "task": "B->E", "seed": 0, "diagnostics": block}
    assert diagnostics.report(record, stream) == 1
    assert stream.getvalue().startswith("warning: dann B->E seed 0: the adversarial game")
    calm = diagnostics.deep_diagnostics(
        x, x, probs, _history([0.5] * 60), ["g/domain_accuracy"], seed=0
    )
    assert calm["settled"] is True and calm["warnings"] == []
    assert diagnostics.report({"diagnostics": calm}, stream) == 1 - 1
    none = diagnostics.deep_diagnostics(x, x, probs, _history([0.5] * 60), [], seed=0)
    assert none["settled"] is None


def test_adversarial_keys_skip_cooperative_domain_classifiers():
    from dalib.train import DomainAdversarial, DomainClassifier, RegionAdversarial

    terms = (
        DomainAdversarial(name="dann"),
        DomainClassifier(name="domain", split=1),
        RegionAdversarial(name="tann", feature_dim=2, num_regions=2),
    )
    history = {"dann/domain_accuracy": [], "domain/domain_accuracy": [], "step": []}
    assert diagnostics.adversarial_accuracy_keys(terms, history) == ["dann/domain_accuracy"]


def test_a_run_writes_the_block(tmp_path):
    source, target = make_pair()
    config = tiny_config()
    config.seeds = 1
    spec = RunSpec.from_config(config)
    task = prepare_task(source, target, name="x", normalize=spec.data.normalize)
    run_one(spec, task, 0, tmp_path / "run")
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    block = record["diagnostics"]
    assert block["uses_target_labels"] is False
    assert block["settled"] is None and block["adversarial"] == {} and block["warnings"] == []
    assert 0.0 <= block["a_distance"]["features"] <= 2.0
    assert 0.0 <= block["a_distance"]["inputs"] <= 2.0
    probs = np.loadtxt(
        tmp_path / "run" / "predictions.csv", delimiter=",", skiprows=1, usecols=(3, 4, 5)
    )
    expected = diagnostics.prediction_entropy(probs)
    assert block["target_entropy"]["mean_row"] == pytest.approx(expected["mean_row"], abs=1e-5)
    assert block["target_entropy"]["of_mean"] == pytest.approx(expected["of_mean"], abs=1e-5)


def test_input_a_distance_is_computed_once_per_inputs_and_seed(monkeypatch):
    # Every method of a task shares its inputs: their A-distance is reused, and
    # equals a fresh computation; other inputs or another seed are computed anew.
    rng = np.random.default_rng(2)
    xs, xt = rng.normal(size=(40, 6)), rng.normal(size=(30, 6)) + 1.0
    probs = np.full((30, 2), 0.5)
    monkeypatch.setattr(diagnostics, "_INPUT_DISTANCES", {})
    calls = []
    real = diagnostics._jitted_a_distance()
    monkeypatch.setattr(
        diagnostics, "_jitted_a_distance", lambda: lambda *a, **k: calls.append(1) or real(*a, **k)
    )

    def inputs_distance(seed, source=xs):
        block = diagnostics.deep_diagnostics(
            xs[:, :3], xt[:, :3], probs, {"step": [1]}, [], seed=seed,
            source_inputs=source, target_inputs=xt,
        )  # fmt: skip
        return block["a_distance"]["inputs"]

    first = inputs_distance(0)
    assert len(calls) == 2  # features and inputs
    assert inputs_distance(0) == first and len(calls) == 3  # features only
    monkeypatch.setattr(diagnostics, "_INPUT_DISTANCES", {})
    assert inputs_distance(0) == first  # a fresh computation gives the reused value
    inputs_distance(1)
    inputs_distance(1, source=xs + 1.0)
    assert len(calls) == 9
