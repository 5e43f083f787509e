"""``dalib protocol``: every task of a registered protocol, with its results tables."""

from __future__ import annotations

from dalib.cli._common import (
    CommandError,
    add_config_options,
    check_out_dir,
    finish,
    load_config,
    split_list,
)


def add(sub) -> None:
    from dalib.experiment import PROTOCOLS

    p = sub.add_parser(
        "protocol",
        help="every task of a cross-corpus protocol, with its results tables",
        description="Runs every method and seed on every task of a protocol and prints and "
        "writes its tables. Protocols: "
        + "; ".join(f"{p.name}: {p.title}" for p in PROTOCOLS.values()),
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
    add_config_options(p)
    p.set_defaults(handler=run)


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
    return finish(run_protocol(config, out, progress=not args.quiet), out)
