r"""Local worker processes for a sweep: its shards run side by side on this machine's cores.

A protocol sweep is many small, independent programs (a 1000-step MLP training
on a few hundred rows). :func:`run_workers` starts ``k`` processes, worker
``i`` running shard ``i`` of ``k`` of the sweep
(:func:`dalib.experiment.run_protocol` with ``shard=(i, k)``) into the same
output folder, each pinned to one core with one XLA, OpenMP and BLAS thread.
The parent shows their progress by counting ``COMPLETE`` markers, then runs
the sweep once more itself: every finished run is skipped, a run a worker did
not finish (a crash, a kill) is run there, and the tables are written.

Measured on the idle 2-core development machine (README main job, 324 runs):
444 s in one process, 331 s with two workers (1.34x; the SER part 63 s against
50 s). XLA's thread pool does not pay for matrices of a few hundred rows, so
two single-threaded processes finish more runs per second than one using both
cores.

Results agree to float round-off, and mostly to the bit: 288 of the 324
``predictions.csv`` were byte-identical either way. The other 36 are DANN's
CDMER runs, whose 1024-wide discriminator layers are multiplied in a
different order by one thread than by two; the adversarial game amplifies
that, 95 of 4,059 target predictions changed and the 12-task UF1 average moved
from 42.7 to 42.0 (seed std 6-7). A test checks that a small sweep writes the
same files with 1 and 2 workers.

Workers start a fresh Python: methods registered at run time exist there only
if the module that registers them is imported again, which a ``--config`` file
does (``setup`` below).
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["auto_workers", "run_workers", "single_thread_env"]

# Eigen's dot products on one thread (each worker is also pinned to one core).
# XLA ignores an XLA_FLAGS token without "--" (this tuple once held one).
_XLA_ONE_THREAD = ("--xla_cpu_multi_thread_eigen=false",)
_BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores() -> list[int]:
    """The CPU cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def auto_workers(groups: int) -> int:
    """Workers for ``groups`` pending run groups (the seeds of one method on one task).

    ``$DALIB_WORKERS`` (a whole number) if set; else one per usable core on a
    CPU backend, with at least 4 groups each (a worker's start, about 3 s of
    imports and compilation, must pay for itself); 1 on a GPU or TPU, where one
    process keeps the accelerator and several would compete for its memory.
    """
    import jax

    fixed = os.environ.get("DALIB_WORKERS", "").strip()
    if fixed:
        try:
            return max(1, min(int(fixed), groups))
        except ValueError:
            raise ValueError(
                f"$DALIB_WORKERS must be a whole number >= 1, got {fixed!r}; unset it for the "
                "automatic choice"
            ) from None
    if jax.default_backend() != "cpu":
        return 1
    return max(1, min(len(usable_cores()), groups // 4))


def single_thread_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default ``os.environ``) with one XLA, OpenMP and BLAS thread."""
    env = dict(os.environ if env is None else env)
    flags = env.get("XLA_FLAGS", "").split()
    names = {f.split("=")[0] for f in flags}
    flags += [f for f in _XLA_ONE_THREAD if f.split("=")[0] not in names]
    env["XLA_FLAGS"] = " ".join(flags)
    for var in _BLAS_VARS:
        env[var] = "1"
    return env


def run_workers(
    config: Any,
    out: str | Path,
    pending: Sequence[Path],
    *,
    workers: int,
    setup: Sequence[str] = (),
    progress: bool = True,
    poll_seconds: float = 0.5,
) -> list[int]:
    """Runs the shards ``1..workers`` of a protocol sweep in worker processes.

    Args:
      config: the protocol config (an ``ml_collections.ConfigDict``).
      out: the sweep's output folder.
      pending: the run folders not yet complete (for the progress bar).
      workers: number of processes (``>= 2``).
      setup: Python config files each worker executes first (to register methods).
      progress: show a bar of finished runs on stderr.
      poll_seconds: how often the bar is refreshed.

    Returns:
      The workers' exit statuses (0: every run of the shard finished).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    import jax

    from dalib.experiment.sweep import _progress

    cores = usable_cores()
    env = single_thread_env()
    if jax.config.read("jax_enable_x64"):  # the workers compute in this process's precision
        env["JAX_ENABLE_X64"] = "1"
    # The workers share this process's persistent compilation cache, or none.
    env["DALIB_JAX_CACHE"] = jax.config.jax_compilation_cache_dir or "off"
    from dalib.experiment.protocols import get_protocol

    protocol = get_protocol(config.get("protocol", "ser"))  # a protocol registered at run time
    with tempfile.NamedTemporaryFile("wb", suffix=".pkl", dir=out, delete=False) as f:
        pickle.dump((config, protocol), f)
        blob = f.name
    procs: list[subprocess.Popen] = []
    bar = _progress(len(pending), progress and bool(pending))
    try:
        for i in range(workers):
            command = [sys.executable, "-m", "dalib.experiment.workers", blob, str(out),
                       f"{i + 1}/{workers}", "--core", str(cores[i % len(cores)])]  # fmt: skip
            for path in setup:
                command += ["--setup", str(path)]
            procs.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
        done = 0
        while any(p.poll() is None for p in procs):
            time.sleep(poll_seconds)
            if bar is not None:
                now = sum((Path(p) / "COMPLETE").exists() for p in pending)
                bar.update(now - done)
                done = now
        if bar is not None:
            bar.update(sum((Path(p) / "COMPLETE").exists() for p in pending) - done)
    except BaseException:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait()
        raise
    finally:
        if bar is not None:
            bar.close()
        Path(blob).unlink(missing_ok=True)
    return [p.returncode for p in procs]


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dalib.experiment.workers")
    parser.add_argument("config", help="pickled protocol config")
    parser.add_argument("out")
    parser.add_argument("shard", help="i/k, counted from 1")
    parser.add_argument("--core", type=int)
    parser.add_argument("--setup", action="append", default=[])
    args = parser.parse_args(argv)
    if args.core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    from dalib.experiment import load_config_file, run_protocol
    from dalib.experiment.protocols import PROTOCOLS, register_protocol
    from dalib.train import enable_compilation_cache

    enable_compilation_cache()  # the parent's folder, or off (run_workers sets $DALIB_JAX_CACHE)

    for path in args.setup:
        load_config_file(path)  # for its side effects: methods it registers
    with open(args.config, "rb") as f:
        config, protocol = pickle.load(f)
    if protocol.name not in PROTOCOLS:
        register_protocol(protocol)
    index, count = (int(x) for x in args.shard.split("/"))
    result = run_protocol(config, args.out, progress=False, shard=(index, count), workers=1)
    return 0 if not result.failures else 1


if __name__ == "__main__":
    sys.exit(_main())
