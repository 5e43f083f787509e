"""experiments.benchmarks.peers: the dalib part in quick mode, and the peer checks."""

import json
import math

import pytest

from experiments.benchmarks import peers


def test_missing_peer_is_named_with_pip_command_before_any_work(monkeypatch, capsys):
    real = peers.importlib.util.find_spec
    monkeypatch.setattr(
        peers.importlib.util, "find_spec", lambda name: None if name == "skada" else real(name)
    )
    calls = []

    def fake_run(args):
        calls.append(capsys.readouterr().out)  # what was printed before the work began
        raise SystemExit(0)

    monkeypatch.setattr(peers, "run", fake_run)
    with pytest.raises(SystemExit):
        peers.main(["--quick", "--frameworks", "dalib,skada"])
    assert len(calls) == 1
    assert "skipping skada" in calls[0] and 'pip install -e ".[bench]"' in calls[0]


def test_unknown_case_is_refused():
    with pytest.raises(SystemExit):
        peers.main(["--cases", "mmd-1x1"])


@pytest.mark.slow  # spawns worker processes (about 20 s idle, 45 s under load)
def test_quick_dalib_run_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "peers.json"
    peers.main(
        ["--quick", "--frameworks", "dalib,dalib-cached", "--cases", "mmd-512x256,dan",
         "--steps", "5", "--reps", "1", "--json", str(out)]
    )  # fmt: skip
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    row = result["mmd"]["mmd-512x256"]["dalib"]
    assert row["min"] <= row["median"] <= row["max"]
    assert row["x_floor"] == pytest.approx(row["median"] / result["floor"]["mmd-512x256"]
                                           ["two_gemm_floor"])  # fmt: skip
    assert math.isfinite(row["value"])
    dan = result["train"]["dan"]["dalib"]
    assert dan["compile"] > 0 and dan["end_to_end"]["median"] > dan["steady"]["median"]
    cached = result["train"]["dan"]["dalib-cached"]
    assert 0 < cached["compile"] < dan["compile"]  # loaded from the cache, not compiled
    assert len(result["load_before"]) == 3 and len(result["load_after"]) == 3
    assert "| MK-MMD fwd+bwd |" in text and "x two-GEMM floor" in text and "| DAN | dalib |" in text


def test_write_docs_replaces_only_the_marked_block(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(f"# P\nbefore\n{peers.BEGIN}\nold table\n{peers.END}\nafter\n")
    peers.write_docs(str(page), "| new | table |")
    assert page.read_text() == f"# P\nbefore\n{peers.BEGIN}\n| new | table |\n{peers.END}\nafter\n"
    page.write_text("no markers\n")
    with pytest.raises(SystemExit, match="peers:begin"):
        peers.write_docs(str(page), "x")
