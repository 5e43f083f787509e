"""What the ``dalib`` subcommands share: exit codes, errors, config options, output checks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_RUNS_FAILED, EXIT_BAD_INPUT = 0, 1, 2

SELECTION_HELP = (
    "model selection: 'last' (default: fixed training budget, last checkpoint), a label-free "
    "criterion over checkpoints (and --set selection.grid=(0.3,1.0,3.0) weight multipliers): "
    "'iwv', 'dev' (importance-weighted source validation), 'snd' (soft neighbourhood density), "
    "'entropy'; or 'oracle', which READS TARGET LABELS and is labelled 'ORACLE (target labels)' "
    "in every table"
)


class CommandError(Exception):
    """Bad input: a message for stderr and exit status 2."""


def split_list(text: str | None, what: str) -> tuple[str, ...] | None:
    """``"a, b"`` -> ``("a", "b")``; ``None`` when not given; an error when given but empty."""
    if text is None:
        return None
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise CommandError(f"{what} is empty; give at least one name (comma-separated)")
    return items


def check_out_dir(path: str | os.PathLike) -> Path:
    """Checks, before any work, that ``path`` can be (or is) a writable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CommandError(f"--out {path} is a file, not a folder; choose a folder path")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CommandError(f"--out {path} lies under {parent}, which is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(f"--out {path}: {parent} is not writable; choose another folder")
    return path


def check_out_file(path: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    """Checks, before any work, an output file's suffix and that its folder is writable."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise CommandError(f"--out {path} must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise CommandError(f"--out {path} is a folder; give a file name")
    check_out_dir(path.parent if str(path.parent) else Path("."))
    return path


def add_config_options(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set``, ``--seeds``, ``--selection``, ``--quiet``."""
    p.add_argument(
        "--config",
        metavar="FILE",
        help="a Python config file with get_config() -> "
        "ml_collections.ConfigDict (e.g. configs/ser.py); options below override it",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field, repeatable: --set train.steps=500 --set "
        "options.weight=0.3 --set model.hidden=(128,64); values are Python literals",
    )
    p.add_argument("--seeds", type=int, metavar="N", help="number of seeds 0..N-1 (default 3)")
    p.add_argument(
        "--selection",
        choices=("last", "iwv", "dev", "snd", "entropy", "oracle"),
        help=SELECTION_HELP,
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def load_config(args: argparse.Namespace, base):
    """``base()`` merged with ``--config``, then ``--seeds`` and ``--selection``."""
    import ml_collections

    from dalib.experiment import load_config_file

    config = base()
    if args.config:
        loaded = load_config_file(args.config)
        merged = config.to_dict()
        _merge(merged, loaded.to_dict())
        config = ml_collections.ConfigDict(merged)
    if args.seeds is not None:
        if args.seeds < 1:
            raise CommandError(f"--seeds must be >= 1, got {args.seeds}")
        config.seeds = args.seeds
    if args.selection:
        config.selection.criterion = args.selection
    return config


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict) and key != "options":
            _merge(into[key], value)
        else:
            into[key] = value


def print_tables(result) -> None:
    """Prints a sweep's tables and, when every run finished, the baseline lines."""
    for table in result.tables.values():
        print(table.to_markdown())
        print()
    headline = next(iter(result.tables.values()), None)
    complete = result.ok and not getattr(result, "incomplete", ())
    if headline is not None and complete and len(headline.methods) > 1:
        for baseline in ("source_only", "corpus_norm", "svm"):
            if baseline in headline.methods and headline.average(baseline)[2]:
                print(headline.gains_summary(baseline))
        print()


def finish(result, out: Path) -> int:
    """Prints a sweep's tables and the baseline lines; returns the exit status."""
    print_tables(result)
    names = " and ".join(f"results_{m}.md" for m in result.tables)
    print(
        f"{result.ran} run(s) done, {result.skipped} already complete (skipped), "
        f"{len(result.failures)} failed; tables in {out}/ ({names})"
        if result.tables
        else f"no run finished; nothing tabulated in {out}",
    )
    if not result.ok:
        print(
            f"dalib: {result.missing} of the requested runs did not finish "
            f"({len(result.failures)} failed, see the errors above). Their folders are left "
            "without a COMPLETE marker; fix the cause and run the same command again: finished "
            "runs are skipped.",
            file=sys.stderr,
        )
        return EXIT_RUNS_FAILED
    return EXIT_OK
