"""The README's main job: the cross-corpus SER protocol on the synthetic corpora.

Runs ``dalib protocol ser --synthetic --config configs/main.py``: the six tasks
B->E, E->B, B->C, C->B, E->C, C->E between synth-emodb (B), synth-enterface
(E) and synth-casia (C), with source-only baselines and the standard deep
domain-adaptation methods, three seeds, a fixed training budget and no target
labels, and prints the UAR and WAR tables (mean ± std over seeds). The
synthetic corpora are built on first use and cached (``$DALIB_SYNTH_DIR`` or
``~/.cache/dalib/synth``); the runs go to ``runs/main`` and a second call skips
the finished ones.

    python -m experiments.main [--out runs/main] [--seeds 3] [--methods a,b] [--quiet]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dalib import cli

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "main.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/main", help="output folder (default runs/main)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per method and task")
    parser.add_argument("--methods", help="comma-separated methods (default: configs/main.py)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    command = ["protocol", "ser", "--synthetic", "--config", str(CONFIG), "--out", args.out,
               "--seeds", str(args.seeds)]  # fmt: skip
    if args.methods:
        command += ["--methods", args.methods]
    if args.quiet:
        command.append("--quiet")
    print("dalib " + " ".join(command), flush=True)
    start = time.perf_counter()
    status = cli.main(command)
    print(f"main: {time.perf_counter() - start:.0f} s (exit status {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
