"""``dalib protocol``: every task of a registered protocol, with its results tables."""

from __future__ import annotations

import argparse
import re
import sys

from dalib.cli._common import (
    EXIT_OK,
    EXIT_RUNS_FAILED,
    CommandError,
    add_config_options,
    check_out_dir,
    finish,
    load_config,
    print_tables,
    split_list,
)

SHARD_FORM = "I/N with whole numbers 1 <= I <= N (shard I of N, counted from 1), e.g. --shard 2/3"


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``; anything else is refused naming ``--shard`` and its form."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected {SHARD_FORM}; got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"expected {SHARD_FORM}; got {text!r}")
    return index, count


def add(sub) -> None:
    from dalib.experiment import PROTOCOLS

    p = sub.add_parser(
        "protocol",
        help="every task of a cross-corpus protocol, with its results tables",
        description="Runs every method and seed on every task of a protocol and prints and "
        "writes its tables. Protocols: "
        + "; ".join(f"{p.name}: {p.title}" for p in PROTOCOLS.values())
        + ". Across machines: run the same command with --shard 1/N ... --shard N/N into one "
        "shared --out (N processes at once, e.g. a SLURM job array), then --tables-only.",
    )
    p.add_argument("protocol", choices=tuple(PROTOCOLS), help="the protocol")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--synthetic",
        action="store_true",
        help="the built-in synthetic corpora (default; built and cached on first use)",
    )
    source.add_argument(
        "--root",
        metavar="DIR",
        help="folder with the real corpora in their "
        "original layouts, one subfolder per corpus (features cached in OUT/features)",
    )
    source.add_argument(
        "--tables", metavar="A=..,B=..", help="precomputed feature tables per domain"
    )
    p.add_argument(
        "--methods", metavar="A,B,...", help="comma-separated methods (default: the config's)"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--tasks", metavar="T1,T2", help="a subset of the tasks, e.g. 'B->E,C->B'")
    p.add_argument("--feature-set", metavar="SET", help="feature set (default: the protocol's)")
    p.add_argument(
        "--synth-root",
        metavar="DIR",
        help="where the synthetic corpora are cached "
        "(default $DALIB_SYNTH_DIR or ~/.cache/dalib/synth)",
    )
    p.add_argument(
        "--synth-seed",
        type=int,
        metavar="K",
        help="build seed of the synthetic "
        "corpora (default 0); build K > 0 is cached in SYNTH_ROOT/seed_K",
    )
    _add_split_options(p)
    add_config_options(p)
    p.set_defaults(handler=run)


def parse_workers(text: str) -> int | str:
    """``"auto"`` or a whole number >= 1; anything else is refused naming ``--workers``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 1 or 'auto', e.g. --workers 2; got {text!r}"
        )
    return value


def _add_split_options(p) -> None:
    """``--shard``, ``--tables-only`` and ``--workers``: how a sweep is split over processes."""
    split = p.add_mutually_exclusive_group()
    split.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help="run only shard I of N (counted from 1: 1/N ... N/N) of the sweep's runs into the "
        "shared --out; the seeds of one method on one task stay in one shard, and every run is "
        "in exactly one shard, so N processes (a SLURM job array: --shard "
        "$SLURM_ARRAY_TASK_ID/N with --array=1-N) can run at once. A shard writes only its "
        "own run folders; the one that finds every run complete writes the tables",
    )
    split.add_argument(
        "--tables-only",
        action="store_true",
        help="train nothing: write and print the tables from the complete runs in --out; exit "
        "status 1, naming the missing runs, when some are not complete (the tables are then "
        "marked INCOMPLETE)",
    )
    p.add_argument(
        "--workers",
        type=parse_workers,
        default="auto",
        metavar="K|auto",
        help="run the sweep in K local worker processes, one per core, each with one thread "
        "(results equal to float round-off, mostly to the bit; on a CPU, faster than one "
        "process using every core); default auto: one per usable core on a CPU, 1 on a "
        "GPU/TPU; 1: everything in this process",
    )


def run(args) -> int:
    from dalib.experiment import (
        CorporaSpec,
        RunSpec,
        apply_overrides,
        get_protocol,
        protocol_config,
        run_protocol,
    )

    config = load_config(args, protocol_config)
    config.protocol = args.protocol
    methods, tasks = split_list(args.methods, "--methods"), split_list(args.tasks, "--tasks")
    if methods:
        config.methods = methods
    if tasks:
        config.tasks = tasks
    corpora = config.corpora
    if args.root or args.tables or args.synthetic:
        corpora.root, corpora.tables = args.root or "", args.tables or ""
    if args.feature_set:
        corpora.feature_set = args.feature_set
    if args.synth_root:
        corpora.synth_root = args.synth_root
    if args.synth_seed is not None:
        if args.synth_seed < 0:
            raise CommandError(f"--synth-seed must be >= 0, got {args.synth_seed}")
        corpora.synth_seed = args.synth_seed
    config = apply_overrides(config, args.overrides)
    protocol = get_protocol(config.protocol)
    protocol.select_tasks(list(config.tasks))  # unknown task names: fail before any work
    CorporaSpec.from_config(config.corpora.to_dict(), protocol)
    for name in config.methods:  # unknown methods or options: fail before any work
        c = config.copy_and_resolve_references()
        if name != config.get("method", name):
            c.options = type(c.options)()
        c.method = name
        RunSpec.from_config(c)
    out = check_out_dir(args.out)
    if args.tables_only and not out.is_dir():
        raise CommandError(
            f"--tables-only: --out {out} is not a folder, so it holds no runs to tabulate; run "
            "the sweep (or its shards) into it first"
        )
    result = run_protocol(
        config,
        out,
        progress=not args.quiet,
        shard=args.shard,
        tables_only=args.tables_only,
        workers=args.workers,
        worker_setup=(args.config,) if args.config else (),
    )
    if args.tables_only:
        return _finish_tables_only(result, out)
    if args.shard is not None:
        return _finish_shard(result, out, args.shard)
    return finish(result, out)


def _names(result, limit: int = 5) -> str:
    shown = ", ".join(result.incomplete[:limit])
    more = len(result.incomplete) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def _tables_line(result, out) -> str:
    names = " and ".join(f"results_{m}.md" for m in result.tables)
    return f"tables in {out}/ ({names})"


def _finish_tables_only(result, out) -> int:
    print_tables(result)
    found = f"{result.total - len(result.incomplete)} of {result.total} runs complete"
    if not result.incomplete:
        print(f"tables only: {found}; {_tables_line(result, out)}")
        return EXIT_OK
    if result.tables:
        print(f"tables only: {found}; {_tables_line(result, out)}, marked INCOMPLETE")
    else:
        print(f"tables only: {found}; nothing tabulated in {out}")
    print(
        f"dalib protocol: {len(result.incomplete)} of {result.total} runs of the sweep are not "
        f"complete in {out}: {_names(result)}. Run the shards (or the same command without "
        "--tables-only) that finish them, then --tables-only again.",
        file=sys.stderr,
    )
    return EXIT_RUNS_FAILED


def _finish_shard(result, out, shard: tuple[int, int]) -> int:
    index, count = shard
    print_tables(result)
    mine = result.skipped + result.ran + result.missing
    print(
        f"shard {index}/{count}: {result.ran} run(s) done, {result.skipped} already complete "
        f"(skipped), {len(result.failures)} failed, of the shard's {mine} "
        f"(the sweep has {result.total})"
    )
    if result.tables:
        print(f"every run of the sweep is complete; {_tables_line(result, out)}")
    else:
        print(
            f"{len(result.incomplete)} of {result.total} runs of the sweep are not complete yet "
            f"(other shards, e.g. {_names(result, 3)}); tables not written: the last shard to "
            "finish writes them, or run the same command with --tables-only instead of --shard"
        )
    if not result.ok:
        print(
            f"dalib: {result.missing} of shard {index}/{count}'s runs did not finish "
            f"({len(result.failures)} failed, see the errors above). Their folders are left "
            "without a COMPLETE marker; fix the cause and run the same shard again: finished "
            "runs are skipped.",
            file=sys.stderr,
        )
        return EXIT_RUNS_FAILED
    return EXIT_OK
