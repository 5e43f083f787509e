"""The method-health suite (``python -m experiments.health``): its toys and a fast subset."""

import numpy as np
import pytest

from experiments import health


@pytest.mark.parametrize("name", health.TOYS)
def test_toys_are_shifted_standardised_and_grouped(name):
    toy = health.make_toy(name)
    assert toy.source.shape == toy.target.shape == (health.N, health.DIM)
    pooled = np.concatenate([toy.source, toy.target])
    np.testing.assert_allclose(pooled.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(pooled.std(0), 1.0, atol=1e-4)
    assert len(toy.groups) == health.DIM and toy.groups.min() == 0
    # a real shift: the target's mean or spread differs from the source's somewhere
    gap = np.abs(toy.source.mean(0) - toy.target.mean(0)).max()
    spread = np.abs(toy.source.std(0) - toy.target.std(0)).max()
    assert max(gap, spread) > 0.05
    assert set(np.unique(toy.source_labels)) == set(np.unique(toy.target_labels))


def test_unknown_toy_is_refused():
    with pytest.raises(ValueError, match="unknown toy"):
        health.make_toy("spirals")


def test_markdown_marks_gains_and_losses():
    results = {
        "source_only": {"moons50": [0.6, 0.62]},
        "dann": {"moons50": [0.8, 0.82]},
        "dan": {"moons50": [0.4, 0.42]},
    }
    table = health.markdown(results, ["moons50"])
    assert "| dann | 81.0 ± 1.0 * |" in table
    assert "| dan | 41.0 ± 1.0 - |" in table


@pytest.mark.slow
def test_dann_with_its_recipe_beats_source_only_on_the_50_degree_moons():
    toy = health.make_toy("moons50")
    seeds = (0, 1)
    so = [health.fit_accuracy("source_only", toy, s, steps=600) for s in seeds]
    dann = [health.fit_accuracy("dann", toy, s, steps=600) for s in seeds]
    assert np.mean(dann) > np.mean(so) + 0.08, (so, dann)
