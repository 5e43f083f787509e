"""The persistent compilation cache: where it lives, how it is switched off, and that a
second process loads the first one's programs and computes the same numbers.

Everything that turns the cache on runs in a subprocess: it is a process-wide JAX
setting, and the test process keeps it off (tests/conftest.py).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dalib.train import compilation_cache_dir, enable_compilation_cache

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, optax
    from flax import nnx
    from dalib import train as T

    hits = []
    jax.monitoring.register_event_listener(
        lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None)
    folder = T.enable_compilation_cache(min_compile_time_s=0.0)
    rng = jax.random.key(3)
    data = T.Batch(jax.random.normal(rng, (40, 6)), jnp.arange(40) % 3,
                   jax.random.normal(jax.random.key(4), (30, 6)) + 1.0)
    trainer = T.make_trainer(
        encoder=T.from_nnx(lambda r: nnx.Linear(6, 8, rngs=r)),
        classifier=T.from_nnx(lambda r: nnx.Linear(8, 3, rngs=r)),
        optimizer=optax.adam(1e-2),
        example_batch=T.sample_batch(data, jax.random.key(0), batch_size=8),
        terms=[T.MMD(weight=0.5)],
    )
    run = jax.jit(lambda k: T.train(trainer, data, k, num_steps=20, batch_size=8)[1]["loss"])
    losses = run(jax.random.key(0))
    print(json.dumps({"folder": None if folder is None else str(folder),
                      "hits": len(hits), "loss": [float(x) for x in losses]}))
    """
)


def _run(env_value: str | None, tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.pop("DALIB_JAX_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["DALIB_CACHE"] = str(tmp_path / "dalib-cache")
    if env_value is not None:
        env["DALIB_JAX_CACHE"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*-cache"))


def test_a_second_process_loads_the_programs_and_gets_the_same_numbers(tmp_path):
    folder = tmp_path / "jax-cache"
    first = _run(str(folder), tmp_path)
    assert first["folder"] == str(folder)
    written = _entries(folder)
    assert any(p.name.startswith("jit_") for p in written), written
    second = _run(str(folder), tmp_path)
    assert second["hits"] >= 1  # the training program came from the cache
    assert first["hits"] == 0
    assert second["loss"] == first["loss"]  # bit for bit
    assert _entries(folder) == written  # nothing recompiled, nothing new


def test_off_writes_nothing_and_the_default_folder_is_under_dalib_cache(tmp_path):
    off = _run("off", tmp_path)
    assert off["folder"] is None and off["hits"] == 0
    assert not (tmp_path / "dalib-cache").exists()
    default = _run(None, tmp_path)
    folder = Path(default["folder"])
    assert folder.parent == tmp_path / "dalib-cache" / "jax"
    assert len(folder.name) == 16 and _entries(folder)
    assert default["loss"] == off["loss"]


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no", "none"])
def test_off_values(monkeypatch, value):
    monkeypatch.setenv("DALIB_JAX_CACHE", value)
    assert compilation_cache_dir() is None


def test_named_folder_and_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("DALIB_JAX_CACHE", str(tmp_path / "here"))
    assert compilation_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("DALIB_JAX_CACHE")
    monkeypatch.setenv("DALIB_CACHE", str(tmp_path / "c"))
    first = compilation_cache_dir()
    assert first.parent == tmp_path / "c" / "jax"
    assert compilation_cache_dir() == first  # stable for one machine and JAX version


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_compile_time_s": -1.0}, "min_compile_time_s"),
        ({"min_compile_time_s": float("nan")}, "min_compile_time_s"),
        ({"max_size_bytes": 1000}, "max_size_bytes"),
        ({"max_size_bytes": 2.5e9}, "max_size_bytes"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        enable_compilation_cache(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # refused before anything was set or written


def test_the_command_line_fills_the_cache_and_off_keeps_it_empty(tmp_path):
    from tests.cli.conftest import TINY, make_cli_table

    source = make_cli_table(tmp_path / "s.npz", ["angry", "happy", "sad"])
    target = make_cli_table(tmp_path / "t.npz", ["angry", "happy", "sad"], shift=1.0, seed=1)
    for value, folder in (("off", tmp_path / "unused"), (str(tmp_path / "jc"), tmp_path / "jc")):
        env = {**os.environ, "DALIB_JAX_CACHE": value, "DALIB_CACHE": str(tmp_path / "home")}
        command = [sys.executable, "-m", "dalib.cli", "run", "--source", str(source),
                   "--target", str(target), "--method", "dan", "--seeds", "1",
                   "--out", str(tmp_path / f"run_{folder.name}"), *TINY]  # fmt: skip
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        if value == "off":
            assert not folder.exists() and not (tmp_path / "home").exists()
        else:
            assert _entries(folder), "the training program was not written to the cache"


def test_an_unusable_folder_only_warns_and_the_command_still_runs(tmp_path):
    from tests.cli.conftest import TINY, make_cli_table

    source = make_cli_table(tmp_path / "s.npz", ["angry", "happy", "sad"])
    target = make_cli_table(tmp_path / "t.npz", ["angry", "happy", "sad"], shift=1.0, seed=1)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    env = {**os.environ, "DALIB_JAX_CACHE": str(blocker / "jax")}
    command = [sys.executable, "-m", "dalib.cli", "run", "--source", str(source),
               "--target", str(target), "--method", "source_only", "--seeds", "1",
               "--out", str(tmp_path / "run"), *TINY]  # fmt: skip
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "compilation cache off" in out.stderr and "DALIB_JAX_CACHE" in out.stderr
    assert any((tmp_path / "run").rglob("COMPLETE"))  # the run finished all the same
