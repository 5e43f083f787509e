"""Sweeps split over processes: ``--shard I/N`` into one folder, then ``--tables-only``."""

import os
import random
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from dalib.cli._protocol import parse_shard
from dalib.experiment import protocol_config, run_protocol
from dalib.experiment._jobs import _Job, _shard_jobs

from .conftest import TINY, run_cli, ser_tables_arg

ROOT = Path(__file__).resolve().parents[2]


def _jobs(methods, tasks, seeds, configs=("h0",)):
    jobs = []
    for m in methods:
        for h in configs:
            spec = types.SimpleNamespace(method=m, hash=h)
            jobs += [_Job(spec, t, s, Path(m, h, t, str(s))) for t in tasks for s in range(seeds)]
    return jobs


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 25])
def test_every_job_is_in_exactly_one_shard_with_its_group(count):
    jobs = _jobs(["svm", "dann", "tca", "dan"], ["B->E", "E->B", "C->B"], 3, ("h0", "h1"))
    shards = [_shard_jobs(jobs, i, count) for i in range(1, count + 1)]
    seen = [j.path for shard in shards for j in shard]
    assert sorted(seen) == sorted(j.path for j in jobs)  # each job once, none lost
    for shard in shards:  # a (method, config, task) group stays in one shard
        for job in shard:
            mates = [j for j in jobs if (j.spec, j.task) == (job.spec, job.task)]
            assert all(m in shard for m in mates)
    groups = len(jobs) // 3
    sizes = sorted(len(s) // 3 for s in shards)  # round-robin: sizes differ by at most one
    assert sizes[-1] - sizes[0] <= 1 and sum(sizes) == groups


def test_the_split_does_not_depend_on_the_job_order():
    jobs = _jobs(["svm", "dann", "tca"], ["B->E", "E->B", "C->B", "B->C"], 2)
    shuffled = list(jobs)
    random.Random(0).shuffle(shuffled)
    for i in (1, 2, 3):
        a = {j.path for j in _shard_jobs(jobs, i, 3)}
        b = {j.path for j in _shard_jobs(shuffled, i, 3)}
        assert a == b and a


@pytest.mark.parametrize("text,expected", [("1/3", (1, 3)), ("3/3", (3, 3)), (" 2 / 5", (2, 5))])
def test_parse_shard_accepts_i_of_n(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "3", "1/0", "-1/3", "1/3/4", "1.5/3", ""])
def test_bad_shard_is_refused_before_any_work(capsys, tables, tmp_path, value):
    out = tmp_path / "o"
    argv = ["protocol", "ser", "--tables", ser_tables_arg(tables), "--methods", "svm"]
    with pytest.raises(SystemExit) as exit_:
        run_cli(capsys, *argv, f"--shard={value}", "--out", out)  # '=': "-1/3" is a value
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "argument --shard" in err and "I/N" in err and repr(value) in err, err
    assert not out.exists()


def test_shard_and_tables_only_exclude_each_other(capsys, tables, tmp_path):
    argv = ["protocol", "ser", "--tables", ser_tables_arg(tables), "--methods", "svm"]
    with pytest.raises(SystemExit) as exit_:
        run_cli(capsys, *argv, "--shard", "1/2", "--tables-only", "--out", tmp_path / "o")
    assert exit_.value.code == 2
    assert "not allowed with argument --shard" in capsys.readouterr().err


@pytest.mark.parametrize("shard", [(0, 2), (3, 2), (1, 0), "1/2", (1.0, 2), (True, 2)])
def test_run_protocol_refuses_a_bad_shard(tmp_path, shard):
    config = protocol_config()
    with pytest.raises(ValueError, match=r"shard must be \(i, N\)"):
        run_protocol(config, tmp_path / "o", shard=shard)
    assert not (tmp_path / "o").exists()


def test_tables_only_on_a_missing_folder_is_bad_input(capsys, tables, tmp_path):
    argv = ["protocol", "ser", "--tables", ser_tables_arg(tables), "--methods", "svm"]
    code, _, err = run_cli(capsys, *argv, "--tables-only", "--out", tmp_path / "none")
    assert code == 2 and "--tables-only" in err and "not a folder" in err


def _config(tables, methods=("svm",), seeds=2):
    config = protocol_config()
    config.methods = list(methods)
    config.tasks = ["B->E", "C->B", "E->C"]
    config.seeds = seeds
    config.corpora.tables = ser_tables_arg(tables)
    config.plots.kinds = ()
    return config


def test_shards_through_the_api_give_the_single_run_tables(tables, tmp_path):
    config = _config(tables)
    whole = run_protocol(config, tmp_path / "whole", progress=False)
    assert whole.ok and not whole.incomplete and whole.total == 6
    first = run_protocol(config, tmp_path / "split", progress=False, shard=(1, 2))
    # shard 1 of 2 holds tasks B->E, E->C of svm (sorted: B->E, C->B, E->C; round-robin)
    assert first.ok and first.ran == 4 and not first.tables
    assert first.incomplete == ["svm/C_to_B/seed_0", "svm/C_to_B/seed_1"]
    assert not (tmp_path / "split" / "results_uar.csv").exists()
    partial = run_protocol(config, tmp_path / "split", progress=False, tables_only=True)
    assert not partial.ok and partial.missing == 2 and partial.skipped == 4
    assert "INCOMPLETE: 2 of 6" in (tmp_path / "split" / "results_uar.md").read_text()
    second = run_protocol(config, tmp_path / "split", progress=False, shard=(2, 2))
    assert second.ok and second.ran == 2 and not second.incomplete and second.tables
    for name in ("results_uar.csv", "results_war.csv", "results_uar.md"):
        assert (tmp_path / "split" / name).read_text() == (tmp_path / "whole" / name).read_text()
    again = run_protocol(config, tmp_path / "split", progress=False, shard=(2, 2))
    assert again.ran == 0 and again.skipped == 2  # the resume logic, per shard


def test_tables_only_names_the_missing_runs_and_exits_1(capsys, tables, tmp_path):
    out = tmp_path / "o"
    argv = ["protocol", "ser", "--tables", ser_tables_arg(tables), "--methods", "svm", "--seeds"]
    argv += [1, "--tasks", "B->E,C->B,E->C", *TINY, "--out", out]
    code, stdout, _ = run_cli(capsys, *argv, "--shard", "3/3")
    assert code == 0 and "shard 3/3: 1 run(s) done" in stdout and "tables not written" in stdout
    code, stdout, err = run_cli(capsys, *argv, "--tables-only")
    assert code == 1
    assert "2 of 3 runs of the sweep are not complete" in err
    assert "svm/B_to_E/seed_0" in err and "svm/C_to_B/seed_0" in err
    assert "INCOMPLETE: 2 of 3" in stdout and "| svm" in stdout
    assert "E->C" in (out / "results_uar.csv").read_text()
    assert not (out / "svm" / "B_to_E").exists()  # nothing trained


def test_three_concurrent_shards_match_one_process(capsys, tables, tmp_path):
    """Three ``python -m dalib.cli protocol ... --shard k/3`` at once into one folder."""
    argv = ["protocol", "ser", "--tables", ser_tables_arg(tables)]
    argv += ["--methods", "source_only,svm", "--tasks", "B->E,C->B", "--seeds", "2", *TINY]
    shared = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_ENABLE_X64": "1"}  # as tests/conftest.py
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dalib.cli", *argv, "--shard", f"{k}/3", "--out", str(shared)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in (1, 2, 3)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    seconds = time.perf_counter() - start
    for p, (_, stderr) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, stderr
    assert sum("every run of the sweep is complete" in o for o, _ in outputs) >= 1
    runs = sorted(str(p.parent.relative_to(shared)) for p in shared.rglob("COMPLETE"))
    assert len(runs) == 8, runs
    (shared / "results_uar.csv").unlink()  # written by the last shard; --tables-only again
    code, stdout, err = run_cli(capsys, *argv, "--tables-only", "--out", shared)
    assert code == 0, err
    assert "tables only: 8 of 8 runs complete" in stdout
    single = tmp_path / "single"
    code, _, err = run_cli(capsys, *argv, "--out", single)
    assert code == 0, err
    for name in ("results_uar.csv", "results_war.csv", "results_uar.md"):
        assert (shared / name).read_text() == (single / name).read_text()
    print(f"3 shards: {seconds:.1f} s wall, load {os.getloadavg()}")


def test_run_pair_reports_its_incomplete_runs(tables, tmp_path, monkeypatch):
    from dalib.data import load_table
    from dalib.experiment import default_config, run_pair, sweep

    config = default_config()
    config.method, config.seeds, config.plots.kinds = "svm", 2, ()
    real = sweep.run_one

    def flaky(spec, task, seed, *args, **kwargs):
        if seed == 1:
            raise RuntimeError("boom")
        return real(spec, task, seed, *args, **kwargs)

    monkeypatch.setattr(sweep, "run_one", flaky)
    source, target = load_table(tables["S"]), load_table(tables["T"])
    result = run_pair(config, source, target, tmp_path, progress=False)
    assert result.total == 2 and result.incomplete == ["svm/seed_1"] and result.missing == 1
