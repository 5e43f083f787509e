"""``dalib run``: one method on one source -> target pair of feature tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from dalib.cli._common import add_config_options, check_out_dir, finish, load_config, split_list


def add(sub) -> None:
    p = sub.add_parser(
        "run",
        help="one method on one source -> target pair of feature tables",
        description="Trains on the labelled source table and the target table (labelled, partly "
        "labelled with empty strings, or without labels), predicts every target row, scores the "
        "labelled ones, and writes per seed: config.json, metrics.json, predictions.csv (every "
        "target row, class probabilities), history.csv, plots and, for deep methods, model/ for "
        "`dalib predict`; plus results_uar/war.{md,csv}. The target rows adapted to are all of "
        "them by default (data.target_rows=all).",
        epilog="`dalib methods` lists the methods with their options and references.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", required=True, metavar="S", help="labelled source table (.npz/.csv)")
    p.add_argument("--target", required=True, metavar="T", help="target table (.npz/.csv)")
    p.add_argument("--method", metavar="NAME", help="method name (default: the config's)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/<source>_to_<target>)")
    p.add_argument(
        "--classes",
        metavar="A,B,...",
        help="restrict to these class names (default: every class both tables have)",
    )
    p.add_argument("--name", metavar="TASK", help="task name in the table (default S->T)")
    add_config_options(p)
    p.set_defaults(handler=run)


def _short_names(a: Path, b: Path) -> tuple[str, str]:
    """File stems, or the nearest folder names that tell the two files apart."""
    pa, pb = (*a.resolve().parent.parts, a.stem), (*b.resolve().parent.parts, b.stem)
    for x, y in zip(reversed(pa), reversed(pb), strict=False):
        if x != y:
            return x, y
    return a.stem, b.stem


def run(args) -> int:
    from dalib.data import load_table
    from dalib.experiment import RunSpec, apply_overrides, default_config, run_pair

    config = load_config(args, default_config)
    if args.method:
        if args.method != config.method:
            config.options = type(config.options)()  # another method's options do not carry
        config.method = args.method
    classes = split_list(args.classes, "--classes")
    if classes:
        config.data.classes = classes
    spec = RunSpec.from_config(apply_overrides(config, args.overrides))  # fail before any data
    s_name, t_name = _short_names(Path(args.source), Path(args.target))
    out = check_out_dir(args.out or Path("runs") / f"{s_name}_to_{t_name}")
    source, target = load_table(args.source), load_table(args.target)
    result = run_pair(
        spec,
        source,
        target,
        out,
        task_name=args.name or f"{s_name}->{t_name}",
        progress=not args.quiet,
    )
    return finish(result, out)
