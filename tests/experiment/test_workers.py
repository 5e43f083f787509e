"""Local worker processes for a protocol sweep (:mod:`dalib.experiment.workers`)."""

import pytest

from dalib.cli._protocol import parse_workers
from dalib.experiment import workers as W

from .test_protocols import _duo_config, duo  # noqa: F401 - the fixture


def test_single_thread_env_adds_the_flags_once_and_keeps_the_users():
    env = W.single_thread_env({"XLA_FLAGS": "--xla_dump_to=/tmp/x", "OMP_NUM_THREADS": "8"})
    flags = env["XLA_FLAGS"].split()
    assert flags[0] == "--xla_dump_to=/tmp/x"
    assert "--xla_cpu_multi_thread_eigen=false" in flags
    assert all(f.startswith("--") for f in flags)  # XLA ignores tokens without "--"
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    again = W.single_thread_env(env)
    assert again["XLA_FLAGS"] == env["XLA_FLAGS"]  # no duplicates


def test_auto_workers_follows_the_environment_and_the_cores(monkeypatch):
    monkeypatch.setenv("DALIB_WORKERS", "3")
    assert W.auto_workers(10) == 3 and W.auto_workers(2) == 2
    monkeypatch.setenv("DALIB_WORKERS", "two")
    with pytest.raises(ValueError, match="DALIB_WORKERS must be a whole number"):
        W.auto_workers(10)
    monkeypatch.delenv("DALIB_WORKERS")
    cores = len(W.usable_cores())
    assert W.auto_workers(1) == 1  # too few groups to pay for a worker's start
    assert W.auto_workers(1000) == max(1, cores)


@pytest.mark.parametrize("text", ["0", "-2", "x", "1.5", ""])
def test_bad_worker_counts_are_refused(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="--workers 2"):
        parse_workers(text)
    assert parse_workers("auto") == "auto" and parse_workers("3") == 3


def test_two_workers_write_the_same_runs_and_tables_as_one_process(duo, tmp_path):  # noqa: F811
    from dalib.experiment import run_protocol

    config = _duo_config(duo)
    config.seeds = 2
    config.methods = ("source_only", "svm", "dan")
    one = run_protocol(config, tmp_path / "one", progress=False, workers=1)
    two = run_protocol(config, tmp_path / "two", progress=False, workers=2)
    assert one.ok and two.ok, two.failures
    assert two.ran == 6 and two.skipped == 0  # counted as run by this call
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.csv"))
    other = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.csv"))
    assert files == other
    assert sum(f.name == "predictions.csv" for f in files) == 6
    for name in files:  # predictions, training histories and tables, byte for byte
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
