"""The registered ``tann`` method: groups required, it trains, diagnostics see its game."""

import dataclasses

import numpy as np
import pytest

from dalib.experiment import RunSpec, fit_method, predict, prepare_task, registry, run_one

from .conftest import make_pair, tiny_config


def _task(groups=True):
    source, target = make_pair()
    task = prepare_task(source, target, name="x")
    if not groups:
        return task
    regions = np.arange(task.adapt.source_features.shape[1]) // 2  # three regions of 2 columns
    return dataclasses.replace(task, adapt=dataclasses.replace(task.adapt, groups=regions))


def test_tann_is_registered_as_a_region_method():
    entry = registry.get("tann")
    assert entry.deep and entry.needs_groups


def test_tann_without_groups_fails_before_training():
    spec = RunSpec.from_config(tiny_config("tann"))
    with pytest.raises(ValueError, match="needs the table's feature `groups`"):
        fit_method(spec, _task(groups=False).adapt, 0)


@pytest.mark.slow  # compiles a training program (about 70 s at load 12 on 2 cores)
def test_tann_trains_and_reports_its_game(tmp_path):
    config = tiny_config("tann")
    config.train.steps = 80
    config.train.log_every = 10
    spec = RunSpec.from_config(config)
    task = _task()
    fitted = fit_method(spec, task.adapt, 0, want_features=True)
    h = fitted.history
    assert h["classification_loss"][-1] < 0.7 * h["classification_loss"][0]
    acc = np.asarray(h["tann/domain_accuracy"])
    assert np.all((acc >= 0) & (acc <= 1))
    attention = np.asarray(h["tann/region_attention"])
    assert np.all((attention >= 1.0) & (attention <= 1.0 + np.log(2) + 1e-6))
    block = fitted.extras["diagnostics"]
    assert list(block["adversarial"]) == ["tann/domain_accuracy"]
    assert block["settled"] in (True, False)
    # features are the first d = hidden[-1] columns, not the discriminator logits after them
    assert fitted.features[0].shape == (30, 8) and fitted.features[1].shape == (30, 8)
    # a saved tann model predicts the target table again (its groups travel in model.json)
    run_one(spec, task, 0, tmp_path / "run", save_model=True, fitted=fitted)
    _, target = make_pair()
    shared = np.isin(target.labels, task.classes)
    rows = dataclasses.replace(
        target, features=target.features[shared], labels=target.labels[shared],
        speakers=target.speakers[shared], files=target.files[shared],
    )  # fmt: skip
    again = predict(tmp_path / "run", rows)
    np.testing.assert_allclose(again.probs, fitted.scores, rtol=1e-4, atol=1e-5)
