import numpy as np
import pytest

from dalib.experiment import tables


def _records():
    rec = []
    values = {
        "src": {"B->E": [0.30, 0.34], "E->B": [0.40, 0.44]},
        "dan": {"B->E": [0.50, 0.52], "E->B": [0.60, 0.62]},
    }
    for method, per_task in values.items():
        for task, vals in per_task.items():
            for seed, v in enumerate(vals):
                rec.append({"method": method, "task": task, "seed": seed, "uar": v, "war": v / 2})
    return rec


def test_cells_are_mean_and_sample_std_in_percent():
    t = tables.results_table(_records())
    mean, std, n = t.cell("src", "B->E")
    assert n == 2
    np.testing.assert_allclose(mean, 32.0)
    np.testing.assert_allclose(std, np.std([30.0, 34.0], ddof=1))


def test_average_is_per_seed_then_over_seeds():
    t = tables.results_table(_records())
    mean, std, n = t.average("dan")
    per_seed = [np.mean([50.0, 60.0]), np.mean([52.0, 62.0])]
    np.testing.assert_allclose(mean, np.mean(per_seed))
    np.testing.assert_allclose(std, np.std(per_seed, ddof=1))
    assert n == 2


def test_average_ignores_seeds_missing_a_task():
    rec = [
        r
        for r in _records()
        if not (r["method"] == "src" and r["task"] == "E->B" and r["seed"] == 1)
    ]
    mean, _, n = tables.results_table(rec).average("src")
    assert n == 1
    np.testing.assert_allclose(mean, np.mean([30.0, 40.0]))


def test_markdown_and_csv_layout():
    t = tables.results_table(_records(), note="label-free selection")
    md = t.to_markdown()
    lines = md.splitlines()
    assert lines[0].startswith("UAR (%)")
    assert "| method" in lines[2] and "average" in lines[2]
    assert any(line.startswith("| dan") and "51.0 ± 1.4" in line for line in lines)
    assert md.rstrip().endswith("label-free selection")
    csv_lines = t.to_csv().strip().splitlines()
    assert csv_lines[0].startswith("method,B->E mean,B->E std,B->E n")
    assert csv_lines[2].startswith("dan,51.0000,")


def test_war_metric_and_empty_records():
    t = tables.results_table(_records(), metric="war")
    np.testing.assert_allclose(t.cell("src", "B->E")[0], 16.0)
    with pytest.raises(ValueError, match="no finished runs"):
        tables.results_table([])


def test_gains_against_a_baseline_use_the_larger_seed_std():
    # Per-seed averages: base 40, 41, 42 (std 1.0); a 43, 44, 45 (+3, std 1.0);
    # b 41.5, 41.5, 41.5 (+0.5 < 1.0); c 40, 46, 52 (+5 < std 6.0).
    rows = {"base": [40, 41, 42], "a": [43, 44, 45], "b": [41.5] * 3, "c": [40, 46, 52]}
    records = [
        {"method": m, "task": t, "seed": s, "uar": v / 100}
        for m, vals in rows.items()
        for s, v in enumerate(vals)
        for t in ("X->Y", "Y->X")
    ]
    table = tables.ResultsTable(records)
    gains = {g["method"]: g for g in table.gains("base")}
    assert set(gains) == {"a", "b", "c"}
    assert gains["a"]["gain"] == pytest.approx(3.0) and gains["a"]["margin"] == pytest.approx(1)
    assert [gains[m]["beats"] for m in "abc"] == [True, False, False]
    assert gains["c"]["margin"] == pytest.approx(6.0)
    line = table.gains_summary("base")
    assert "1 of 3 rows" in line and "a +3.0 (> 1.0)" in line
    with pytest.raises(ValueError, match="no finished average for the baseline 'zzz'"):
        table.gains("zzz")
