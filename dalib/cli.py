"""The ``dalib`` command line: synthetic corpora, features, single runs and protocols.

::

    dalib synth speech --out DIR
    dalib synth me --out DIR
    dalib features --corpus emodb --root DIR --set is09 --out emodb.npz
    dalib features --corpus casme2 --root DIR --set lbptop --out casme2.npz
    dalib import-mat feats.mat --features X --labels y --subjects s --out table.npz
    dalib run --source S.npz --target T.npz --method dann --seeds 3 --out runs/x
    dalib protocol ser --synthetic --methods source_only,dann,tca --seeds 3 --out runs/ser
    dalib methods

Exit status: 0 when every requested run finished; 1 when a run failed or is
missing (its folder is left incomplete and the same command redoes it); 2 for
bad input (unknown method, missing file, incompatible tables, bad option),
reported before anything is written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_RUNS_FAILED, EXIT_BAD_INPUT = 0, 1, 2

_SELECTION_HELP = (
    "model selection: 'last' (default: fixed training budget, last checkpoint), a label-free "
    "criterion over checkpoints (and --set selection.grid=(0.3,1.0,3.0) weight multipliers): "
    "'iwv', 'dev' (importance-weighted source validation), 'snd' (soft neighbourhood density), "
    "'entropy'; or 'oracle', which READS TARGET LABELS and is labelled 'ORACLE (target labels)' "
    "in every table"
)


class _Error(Exception):
    """Bad input: a message for stderr and exit status 2."""


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="a Python config file with get_config() -> ml_collections.ConfigDict "
        "(e.g. configs/dann.py); command-line options override it",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field, repeatable: --set train.steps=500 "
        "--set options.weight=0.3 --set model.hidden=(128,64); values are Python literals",
    )
    p.add_argument("--seeds", type=int, metavar="N", help="number of seeds 0..N-1 (default 3)")
    p.add_argument(
        "--selection",
        choices=("last", "iwv", "dev", "snd", "entropy", "oracle"),
        help=_SELECTION_HELP,
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dalib`` (every option has a help line)."""
    from dalib.experiment.methods import DEEP_METHODS, SHALLOW_METHODS

    parser = argparse.ArgumentParser(
        prog="dalib",
        description="Cross-corpus emotion recognition with domain adaptation: build the "
        "synthetic corpora, extract features, run one method on a pair of feature tables, or a "
        "whole protocol with its results table.",
        epilog="Exit status: 0 = every requested run finished; 1 = some run failed or is "
        "missing (run the same command again to redo only those); 2 = bad input.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # ------------------------------------------------------------------- synth
    synth = sub.add_parser("synth", help="build the synthetic corpora")
    synth_sub = synth.add_subparsers(dest="kind", metavar="KIND")
    synth_sub.required = True
    speech = synth_sub.add_parser(
        "speech",
        help="the synthetic cross-corpus speech corpora (synth-emodb, synth-enterface, "
        "synth-casia)",
        description="Renders the three synthetic speech corpora with eSpeak NG and exports "
        "openSMILE feature tables (OUT/<corpus>/features/<set>.npz). Cached: an existing build "
        "with the same configuration is reused.",
    )
    speech.add_argument("--out", required=True, metavar="DIR", help="folder for the corpora")
    speech.add_argument("--seed", type=int, default=0, help="build seed (default 0)")
    speech.add_argument(
        "--feature-sets",
        default="is09",
        metavar="SETS",
        help="comma-separated openSMILE sets to export: is09, is10, egemaps (default is09)",
    )
    speech.add_argument(
        "--corpora",
        default="",
        metavar="NAMES",
        help="comma-separated subset (B,E,C or synth-emodb,...; default all three)",
    )
    speech.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    speech.add_argument(
        "--speakers", type=int, metavar="K", help="keep the first K speakers (quick tests)"
    )
    speech.add_argument(
        "--sentences", type=int, metavar="K", help="keep the first K sentences (quick tests)"
    )
    speech.add_argument("--force", action="store_true", help="rebuild even when cached")
    me = synth_sub.add_parser(
        "me",
        help="the synthetic micro-expression databases (casme2, smic-hs, smic-vis, smic-nir, samm)",
        description="Renders the five synthetic micro-expression databases in the original layouts "
        "of the real releases (frames and coding spreadsheets) and their LBP-TOP tables "
        "(OUT/<db>/features/lbptop.npz, computed by the real readers). Cached.",
    )
    me.add_argument("--out", required=True, metavar="DIR", help="folder for the databases")
    me.add_argument("--seed", type=int, default=0, help="build seed (default 0)")
    me.add_argument("--databases", default="", metavar="NAMES", help="subset (C,H,V,N,S or names)")
    me.add_argument("--feature-sets", default="lbptop", metavar="SETS", help="default lbptop")
    me.add_argument("--subjects", type=int, metavar="K", help="keep the first K subjects")
    me.add_argument("--clips", type=int, metavar="K", help="keep K clips per subject")
    me.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    me.add_argument("--force", action="store_true", help="rebuild even when cached")

    # ---------------------------------------------------------------- features
    feats = sub.add_parser(
        "features",
        help="extract a feature table from a corpus on disk",
        description="Reads a corpus in its original layout and writes a feature table "
        "(features [N, D], labels as class names, speakers, files).",
    )
    feats.add_argument(
        "--corpus",
        required=True,
        help="emodb, enterface, casia or iemocap; micro-expressions: casme2, smic-hs, smic-vis, "
        "smic-nir or samm",
    )
    feats.add_argument("--root", required=True, metavar="DIR", help="the corpus folder")
    feats.add_argument(
        "--set",
        dest="feature_set",
        required=True,
        choices=("is09", "is10", "egemaps", "compare", "logmel", "lbptop", "lbpsip"),
        help="feature set: openSMILE functionals or pooled log-mel (speech); LBP-TOP or LBP-SIP "
        "(micro-expressions: 112x112 faces, 16 frames, grids 1,2,4,8)",
    )
    feats.add_argument("--out", required=True, metavar="TABLE", help="output .npz or .csv")
    feats.add_argument(
        "--sample-rate", type=int, default=16000, help="decode audio at this rate (Hz)"
    )
    feats.add_argument("--no-cache", action="store_true", help="do not use the feature cache")

    # -------------------------------------------------------------- import-mat
    imp = sub.add_parser(
        "import-mat",
        help="convert a MATLAB .mat feature file (v5 or v7.3) into a feature table",
        description="Reads features, labels and optionally subjects and groups (the face block "
        "of each feature column) from a .mat file and writes a feature table. Features may be "
        "stored [N, D] or [D, N]. A wrong variable name lists the file's variables.",
    )
    imp.add_argument("file", metavar="FILE.mat", help="the MATLAB file")
    imp.add_argument("--features", required=True, metavar="VAR", help="feature matrix variable")
    imp.add_argument("--labels", required=True, metavar="VAR", help="label vector variable")
    imp.add_argument("--subjects", metavar="VAR", help="subject vector variable")
    imp.add_argument("--groups", metavar="VAR", help="column -> group (face block) variable")
    imp.add_argument(
        "--label-names",
        metavar="1=negative,2=positive",
        help="class names of numeric label codes (required when labels are numbers)",
    )
    imp.add_argument("--out", required=True, metavar="TABLE", help="output .npz or .csv")

    # --------------------------------------------------------------------- run
    run = sub.add_parser(
        "run",
        help="one method on one source -> target pair of feature tables",
        description=textwrap.fill(
            "Trains on the labelled source table and the unlabelled target table, "
            "scores the target predictions with its labels, and writes per seed: config.json, "
            "metrics.json (UAR, WAR, UF1, class mapping, selection, timing), predictions.csv, "
            "history.csv and plots; plus results_uar/war.{md,csv}. Tables may differ in label "
            "names and class sets (the shared classes are used and the dropped ones reported); "
            "their feature sizes must match.",
            width=88,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="deep methods: "
        + ", ".join(DEEP_METHODS)
        + "\nshallow methods: "
        + ", ".join(SHALLOW_METHODS)
        + "\n(`dalib methods` lists them with their options)",
    )
    run.add_argument(
        "--source", required=True, metavar="S", help="labelled source table (.npz/.csv)"
    )
    run.add_argument("--target", required=True, metavar="T", help="target table (.npz/.csv)")
    run.add_argument("--method", metavar="NAME", help="method name (default: the config's)")
    run.add_argument(
        "--out", metavar="DIR", help="output folder (default runs/<source>_to_<target>)"
    )
    run.add_argument(
        "--classes",
        metavar="A,B,...",
        help="restrict to these class names (default: every class both tables have)",
    )
    run.add_argument("--name", metavar="TASK", help="task name in the table (default S->T)")
    _add_config_options(run)

    # ---------------------------------------------------------------- protocol
    proto = sub.add_parser(
        "protocol",
        help="every task of a cross-corpus protocol, with its results table",
        description="ser: the cross-corpus speech emotion recognition protocol, six tasks "
        "B->E, E->B, B->C, C->B, E->C, C->E (B = EmoDB, E = eNTERFACE'05, C = CASIA) on the "
        "classes each pair shares; every method and seed; the UAR and WAR tables are printed "
        "and written to OUT. mer (micro-expressions) is not available yet.",
    )
    proto.add_argument("protocol", choices=("ser", "mer"), help="the protocol")
    source = proto.add_mutually_exclusive_group()
    source.add_argument(
        "--synthetic",
        action="store_true",
        help="use the synthetic corpora (the default; built and cached on first use)",
    )
    source.add_argument(
        "--root",
        metavar="DIR",
        help="folder with the real corpora in their original layouts: DIR/emodb, "
        "DIR/enterface, DIR/casia (features extracted once into OUT/features)",
    )
    source.add_argument(
        "--tables",
        metavar="B=..,E=..,C=..",
        help="precomputed feature tables of the three corpora",
    )
    proto.add_argument(
        "--methods", metavar="A,B,...", help="comma-separated methods (default: the config's)"
    )
    proto.add_argument("--out", required=True, metavar="DIR", help="output folder")
    proto.add_argument(
        "--tasks", metavar="T1,T2", help="a subset of the tasks, e.g. 'B->E,C->B' (default all six)"
    )
    proto.add_argument(
        "--feature-set", metavar="SET", help="feature set of the corpora (default is09)"
    )
    proto.add_argument(
        "--synth-root",
        metavar="DIR",
        help="where the synthetic corpora are cached (default $DALIB_SYNTH_DIR or "
        "~/.cache/dalib/synth)",
    )
    proto.add_argument(
        "--synth-seed",
        type=int,
        metavar="K",
        help="build seed of the synthetic corpora (default 0); build K > 0 is cached in "
        "SYNTH_ROOT/seed_K. Other builds are fresh draws of the same corpora design: "
        "use them to check that a result is not an accident of one build",
    )
    _add_config_options(proto)

    # ----------------------------------------------------------------- methods
    sub.add_parser("methods", help="list the methods and their default options")
    return parser


# ---------------------------------------------------------------------------- commands


def _cmd_synth(args) -> int:
    from dalib.synth import build_me, build_speech_corpora

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.kind == "me":
        paths = build_me(
            args.out,
            seed=args.seed,
            databases=[d for d in args.databases.split(",") if d] or None,
            feature_sets=[s for s in args.feature_sets.split(",") if s],
            num_subjects=args.subjects,
            clips_per_subject=args.clips,
            num_workers=args.workers,
            force=args.force,
        )
        for name, path in paths.items():
            print(f"{name}: {path}")
        return EXIT_OK
    corpora = [c for c in args.corpora.split(",") if c] or None
    sets = [s for s in args.feature_sets.split(",") if s]
    paths = build_speech_corpora(
        args.out,
        seed=args.seed,
        corpora=corpora,
        feature_sets=sets,
        num_speakers=args.speakers,
        num_sentences=args.sentences,
        num_workers=args.workers,
        force=args.force,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return EXIT_OK


def _cmd_features(args) -> int:
    from dalib.data import corpus_to_table

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


def _cmd_import_mat(args) -> int:
    from dalib.data import import_mat

    table = import_mat(
        args.file,
        features=args.features,
        labels=args.labels,
        subjects=args.subjects,
        groups=args.groups,
        label_names=_parse_label_names(args.label_names),
        out=args.out,
    )
    print(
        f"wrote {args.out}: {len(table)} rows x {table.features.shape[1]} features, "
        f"classes {table.classes}" + (", with groups" if table.groups is not None else "")
    )
    return EXIT_OK


def _parse_label_names(text: str | None) -> dict[int, str] | None:
    if not text:
        return None
    out = {}
    for item in text.split(","):
        code, sep, name = item.partition("=")
        if not sep or not code.strip().lstrip("-").isdigit() or not name.strip():
            raise _Error(f"--label-names must read like 1=negative,2=positive; got {item!r}")
        out[int(code)] = name.strip()
    return out


def _load_config(args, base):
    import ml_collections

    from dalib.experiment.config import load_config_file

    config = base()
    if args.config:
        loaded = load_config_file(args.config)
        merged = config.to_dict()
        _merge(merged, loaded.to_dict())
        config = ml_collections.ConfigDict(merged)
    if args.seeds is not None:
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


def _finish(result, out: Path) -> int:
    for metric in ("uar", "war"):
        if metric in result.tables:
            print(result.tables[metric].to_markdown())
            print()
    table = result.tables.get("uar")
    if table is not None and result.ok and len(table.methods) > 1:
        for baseline in ("source_only", "corpus_norm"):
            if baseline in table.methods:
                print(table.gains_summary(baseline))
        print()
    print(
        f"{result.ran} run(s) done, {result.skipped} already complete (skipped), "
        f"{len(result.failures)} failed; tables in {out}/results_uar.md and results_war.md"
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


def _cmd_run(args) -> int:
    from dalib.data import load_table
    from dalib.experiment.config import apply_overrides, default_config, resolve_config
    from dalib.experiment.runner import run_pair

    config = _load_config(args, default_config)
    if args.method:
        if args.method != config.method:
            config.options = type(config.options)()  # another method's options do not carry
        config.method = args.method
    if args.classes:
        config.data.classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    config = apply_overrides(config, args.overrides)
    config = resolve_config(config)  # unknown method/option: fail before reading data
    source, target = load_table(args.source), load_table(args.target)
    s_name, t_name = _short_names(Path(args.source), Path(args.target))
    out = Path(args.out) if args.out else Path("runs") / f"{s_name}_to_{t_name}"
    result = run_pair(
        config,
        source,
        target,
        out,
        task_name=args.name or f"{s_name}->{t_name}",
        progress=not args.quiet,
    )
    return _finish(result, out)


def _short_names(a: Path, b: Path) -> tuple[str, str]:
    """File stems, or the nearest folder names that tell the two files apart."""
    pa, pb = (*a.resolve().parent.parts, a.stem), (*b.resolve().parent.parts, b.stem)
    for x, y in zip(reversed(pa), reversed(pb), strict=False):
        if x != y:
            return x, y
    return a.stem, b.stem


def _cmd_protocol(args) -> int:
    from dalib.experiment.config import apply_overrides, protocol_config
    from dalib.experiment.runner import run_protocol

    if args.protocol == "mer":
        raise _Error(
            "the cross-database micro-expression (MER) protocol is not available yet: its "
            "corpora readers and LBP-TOP features have not landed. Use 'dalib protocol ser', or "
            "'dalib run' on your own feature tables."
        )
    config = _load_config(args, protocol_config)
    if args.methods:
        config.methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if args.tasks:
        config.tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    if args.root:
        config.corpora.root, config.corpora.tables = args.root, ""
    if args.tables:
        config.corpora.tables, config.corpora.root = args.tables, ""
    if args.synthetic:
        config.corpora.root, config.corpora.tables = "", ""
    if args.feature_set:
        config.corpora.feature_set = args.feature_set
    if args.synth_root:
        config.corpora.synth_root = args.synth_root
    if args.synth_seed is not None:
        if args.synth_seed < 0:
            raise _Error(f"--synth-seed must be >= 0, got {args.synth_seed}")
        config.corpora.synth_seed = args.synth_seed
    config = apply_overrides(config, args.overrides)
    out = Path(args.out)
    result = run_protocol(config, out, progress=not args.quiet)
    return _finish(result, out)


def _cmd_methods(args) -> int:
    from dalib.experiment.methods import METHODS, is_deep, method_defaults, method_description

    for name in METHODS:
        kind = "deep" if is_deep(name) else "shallow"
        print(f"{name:18s} {kind:8s} {method_description(name)}")
        options = ", ".join(f"{k}={v!r}" for k, v in method_defaults(name).items())
        print(f"{'':27s} options: {options or '(none)'}")
    return EXIT_OK


_COMMANDS = {
    "synth": _cmd_synth,
    "features": _cmd_features,
    "import-mat": _cmd_import_mat,
    "run": _cmd_run,
    "protocol": _cmd_protocol,
    "methods": _cmd_methods,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``dalib`` command line; returns the exit status (see the module docstring).

    Set ``DALIB_DEBUG=1`` to get Python tracebacks instead of one-line errors.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(
            f"dalib {args.command}: interrupted; finished runs are kept and the same command "
            "resumes the rest.",
            file=sys.stderr,
        )
        return 130
    except (_Error, FileNotFoundError, ValueError, TypeError) as err:
        if os.environ.get("DALIB_DEBUG"):
            raise
        hint = " Check the path." if isinstance(err, FileNotFoundError) else ""
        print(f"dalib {args.command}: error: {err}{hint}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
