"""``dalib predict``: a trained run's model on new samples (no labels needed)."""

from __future__ import annotations

import csv

from dalib.cli._common import EXIT_OK, check_out_file


def add(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predict a table's rows with the model a deep `dalib run` saved",
        description="Loads RUN/model/ (parameters, config, class names, normalisation), "
        "normalises the table's rows as the run normalised its target, and writes one row per "
        "sample: file, predicted class, class probabilities.",
    )
    p.add_argument(
        "--run",
        required=True,
        metavar="RUN_DIR",
        help="a run's seed folder, e.g. runs/x/dann/seed_0",
    )
    p.add_argument("--table", required=True, metavar="X", help="feature table (.npz/.csv)")
    p.add_argument("--out", required=True, metavar="P.csv", help="output CSV")
    p.set_defaults(handler=run)


def run(args) -> int:
    from dalib.data import load_table
    from dalib.experiment import predict
    from dalib.experiment.outputs import atomic_write_text

    out = check_out_file(args.out, (".csv",))
    result = predict(args.run, load_table(args.table))
    lines = [["file", "predicted", *(f"p_{c}" for c in result.classes)]]
    for f, p, row in zip(result.files, result.predictions, result.probs, strict=True):
        lines.append([f, p, *(f"{v:.6f}" for v in row)])
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows(lines)
    atomic_write_text(out, buf.getvalue())
    print(f"wrote {out}: {len(result.files)} rows, classes {list(result.classes)}")
    return EXIT_OK
