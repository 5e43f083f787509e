"""The README's main job: the cross-corpus SER and CDMER protocols on the synthetic corpora.

Runs, one after the other,

* ``dalib protocol ser --synthetic --config configs/main.py``: the six SER tasks
  B->E, E->B, B->C, C->B, E->C, C->E between synth-emodb (B), synth-enterface
  (E) and synth-casia (C), IS09 features, UAR headline;
* ``dalib protocol mer --synthetic --config configs/main_mer.py``: the twelve
  CDMER tasks between the synthetic CASME II (C) and SMIC-HS/VIS/NIR (H, V, N),
  LBP-TOP features, UF1 headline;

with source-only baselines, shallow and deep domain-adaptation methods, three
seeds for the deep ones, a fixed training budget and no target labels, and
prints each protocol's tables (mean ± std over seeds) with the rows that beat
each baseline by more than the seed std. The synthetic corpora are built on
first use and cached (``$DALIB_SYNTH_DIR`` or ``~/.cache/dalib/synth``); the runs
go to ``runs/main/{ser,mer}`` and a second call skips the finished ones.

    python -m experiments.main [--out runs/main] [--seeds 3] [--only ser|mer] [--quiet]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dalib import cli

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PARTS = {"ser": "main.py", "mer": "main_mer.py"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/main", help="output folder (default runs/main)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per method and task")
    parser.add_argument("--only", choices=tuple(PARTS), help="run one protocol only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    status = 0
    for protocol, config in PARTS.items():
        if args.only and protocol != args.only:
            continue
        command = ["protocol", protocol, "--synthetic", "--config", str(CONFIGS / config),
                   "--out", str(Path(args.out) / protocol), "--seeds", str(args.seeds)]  # fmt: skip
        if args.quiet:
            command.append("--quiet")
        print("dalib " + " ".join(command), flush=True)
        part = time.perf_counter()
        code = cli.main(command)
        print(f"main: {protocol} took {time.perf_counter() - part:.0f} s (exit status {code})\n")
        status = max(status, code)
    print(f"main: {time.perf_counter() - start:.0f} s in all (exit status {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
