"""The ``dalib`` command line: synthetic corpora, features, runs, protocols, predictions.

::

    dalib synth speech --out DIR
    dalib synth me --out DIR
    dalib features --corpus emodb --root DIR --set is09 --out emodb.npz
    dalib features --corpus casme2 --root DIR --set lbptop --out casme2.npz
    dalib import-mat feats.mat --features X --labels y --subjects s --out table.npz
    dalib run --source S.npz --target T.npz --method dann --seeds 3 --out runs/x
    dalib predict --run runs/x/dann/seed_0 --table new.npz --out predictions.csv
    dalib protocol ser --synthetic --methods source_only,dann,tca --seeds 3 --out runs/ser
    dalib protocol mer --synthetic --methods source_only,svm,tgsr,rstr --out runs/mer
    dalib protocol composite --synthetic --methods svm,tgsr --out runs/composite
    dalib protocol ser --synthetic --out /shared/ser --shard 2/4   # 1/4 of the sweep
    dalib protocol ser --synthetic --out /shared/ser --tables-only
    dalib methods

Each subcommand lives in its own module (``add`` builds its parser, ``run``
executes it). Exit status: 0 when every requested run finished; 1 when a run
failed or is missing (its folder is left incomplete and the same command
redoes it); 2 for bad input (unknown method, missing file, incompatible
tables, bad option), reported before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from collections.abc import Sequence

from dalib.cli import _features, _import_mat, _methods, _predict, _protocol, _run, _synth
from dalib.cli._common import EXIT_BAD_INPUT, CommandError

__all__ = ["main"]

_SUBCOMMANDS = (_synth, _features, _import_mat, _run, _predict, _protocol, _methods)
# Commands that compile training or prediction programs: they use JAX's
# persistent compilation cache (dalib.train.enable_compilation_cache).
_COMPILING = frozenset({"run", "predict", "protocol"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dalib",
        description="Cross-corpus emotion recognition with domain adaptation: build the "
        "synthetic corpora, extract features, run one method on a pair of feature tables or a "
        "whole protocol with its results table, predict with a trained model.",
        epilog="Exit status: 0 = every requested run finished; 1 = some run failed or is "
        "missing (run the same command again to redo only those); 2 = bad input.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _SUBCOMMANDS:
        module.add(sub)
    return parser


def _compilation_cache(command: str) -> None:
    """Turns on JAX's persistent compilation cache; a folder it cannot use only warns."""
    from dalib.train import compilation_cache_dir, enable_compilation_cache

    try:
        enable_compilation_cache()  # $DALIB_JAX_CACHE=off switches it off
    except OSError as err:
        print(
            f"dalib {command}: warning: compilation cache off, cannot use "
            f"{compilation_cache_dir()} ({err}); set DALIB_JAX_CACHE to a writable folder, or "
            "to off to silence this.",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``dalib`` command line; returns the exit status (see the module docstring).

    Set ``DALIB_DEBUG=1`` to get Python tracebacks instead of one-line errors.
    ``run``, ``predict`` and ``protocol`` keep compiled programs in JAX's
    persistent compilation cache (:func:`dalib.train.enable_compilation_cache`;
    ``$DALIB_JAX_CACHE`` names the folder, ``DALIB_JAX_CACHE=off`` switches it off).
    """
    args = _parser().parse_args(argv)
    try:
        if args.command in _COMPILING:
            _compilation_cache(args.command)
        return args.handler(args)
    except KeyboardInterrupt:
        print(
            f"dalib {args.command}: interrupted; finished runs are kept and the same command "
            "resumes the rest.",
            file=sys.stderr,
        )
        return 130
    except (CommandError, OSError, ValueError, TypeError, zipfile.BadZipFile) as err:
        if os.environ.get("DALIB_DEBUG"):
            raise
        hint = " Check the path." if isinstance(err, FileNotFoundError) else ""
        print(f"dalib {args.command}: error: {err}{hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
