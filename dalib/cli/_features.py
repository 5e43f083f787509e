"""``dalib features``: a feature table from a corpus in its original layout."""

from __future__ import annotations

from dalib.cli._common import EXIT_OK, CommandError, check_out_file

FEATURE_SETS = ("is09", "is10", "egemaps", "compare", "logmel", "lbptop", "lbpsip")


def add(sub) -> None:
    p = sub.add_parser(
        "features",
        help="extract a feature table from a corpus on disk",
        description="Reads a corpus in its original layout and writes a feature table "
        "(features [N, D], labels as class names, speakers, files).",
    )
    p.add_argument(
        "--corpus",
        required=True,
        help="emodb, enterface, casia or iemocap; "
        "micro-expressions: casme2, smic-hs, smic-vis, smic-nir or samm",
    )
    p.add_argument("--root", required=True, metavar="DIR", help="the corpus folder")
    p.add_argument(
        "--set",
        dest="feature_set",
        required=True,
        choices=FEATURE_SETS,
        help="feature set: openSMILE functionals or pooled log-mel (speech); LBP-TOP or LBP-SIP "
        "(micro-expressions: 112x112 faces, 16 frames, grids 1,2,4,8)",
    )
    p.add_argument("--out", required=True, metavar="TABLE", help="output .npz or .csv")
    p.add_argument("--sample-rate", type=int, default=16000, help="decode audio at this rate (Hz)")
    p.add_argument("--no-cache", action="store_true", help="do not use the feature cache")
    p.set_defaults(handler=run)


def run(args) -> int:
    from dalib.data import corpus_to_table

    check_out_file(args.out, (".npz", ".csv"))
    if args.sample_rate < 1:
        raise CommandError(f"--sample-rate must be a positive number of Hz, got {args.sample_rate}")
    table = corpus_to_table(
        args.corpus,
        args.root,
        args.feature_set,
        args.out,
        sample_rate=args.sample_rate,
        cache=not args.no_cache,
    )
    print(
        f"wrote {args.out}: {len(table)} rows x {table.features.shape[1]} features, "
        f"classes {table.classes}"
    )
    if table.meta.get("summary"):
        print(table.meta["summary"])
    return EXIT_OK
