"""``dalib import-mat``: a MATLAB feature file (v5 or v7.3) as a feature table."""

from __future__ import annotations

from dalib.cli._common import EXIT_OK, CommandError, check_out_file


def add(sub) -> None:
    p = sub.add_parser(
        "import-mat",
        help="convert a MATLAB .mat feature file (v5 or v7.3) into a feature table",
        description="Reads features, labels and optionally subjects and groups (the face block "
        "of each feature column) from a .mat file and writes a feature table. Features may be "
        "stored [N, D] or [D, N]. A wrong variable name lists the file's variables.",
    )
    p.add_argument("file", metavar="FILE.mat", help="the MATLAB file")
    p.add_argument("--features", required=True, metavar="VAR", help="feature matrix variable")
    p.add_argument("--labels", required=True, metavar="VAR", help="label vector variable")
    p.add_argument("--subjects", metavar="VAR", help="subject vector variable")
    p.add_argument("--groups", metavar="VAR", help="column -> group (face block) variable")
    p.add_argument(
        "--label-names",
        metavar="1=negative,2=positive",
        help="class names of numeric label codes (required when labels are numbers)",
    )
    p.add_argument("--out", required=True, metavar="TABLE", help="output .npz or .csv")
    p.set_defaults(handler=run)


def _label_names(text: str | None) -> dict[int, str] | None:
    if not text:
        return None
    out = {}
    for item in text.split(","):
        code, sep, name = item.partition("=")
        if not sep or not code.strip().lstrip("-").isdigit() or not name.strip():
            raise CommandError(f"--label-names must read like 1=negative,2=positive; got {item!r}")
        out[int(code)] = name.strip()
    return out


def run(args) -> int:
    from dalib.data import import_mat

    check_out_file(args.out, (".npz", ".csv"))
    table = import_mat(
        args.file,
        features=args.features,
        labels=args.labels,
        subjects=args.subjects,
        groups=args.groups,
        label_names=_label_names(args.label_names),
        out=args.out,
    )
    print(
        f"wrote {args.out}: {len(table)} rows x {table.features.shape[1]} features, "
        f"classes {table.classes}" + (", with groups" if table.groups is not None else "")
    )
    return EXIT_OK
