"""``dalib synth``: build the synthetic corpora."""

from __future__ import annotations

import logging
import sys

from dalib.cli._common import EXIT_OK


def add(sub) -> None:
    synth = sub.add_parser("synth", help="build the synthetic corpora")
    kinds = synth.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True
    speech = kinds.add_parser(
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
        help="comma-separated openSMILE sets: is09, is10, egemaps (default is09)",
    )
    speech.add_argument(
        "--corpora",
        default="",
        metavar="NAMES",
        help="comma-separated subset (B,E,C or synth-emodb,...; default all)",
    )
    speech.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    speech.add_argument("--speakers", type=int, metavar="K", help="first K speakers (quick tests)")
    speech.add_argument(
        "--sentences", type=int, metavar="K", help="keep the first K sentences (quick tests)"
    )
    speech.add_argument("--force", action="store_true", help="rebuild even when cached")
    speech.set_defaults(handler=run_speech)
    me = kinds.add_parser(
        "me",
        help="the synthetic micro-expression databases (casme2, smic-hs, smic-vis, smic-nir, samm)",
        description="Renders the five synthetic micro-expression databases in the original "
        "layouts of the real releases (frames and coding spreadsheets) and their LBP-TOP tables "
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
    me.set_defaults(handler=run_me)


def _names(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def _build(args, build, **selection) -> int:
    """Checks ``--out``, runs a corpus builder with the shared options, prints the folders."""
    from dalib.cli._common import check_out_dir

    check_out_dir(args.out)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    paths = build(
        args.out,
        seed=args.seed,
        feature_sets=_names(args.feature_sets),
        num_workers=args.workers,
        force=args.force,
        **selection,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return EXIT_OK


def run_speech(args) -> int:
    from dalib.synth import build_speech_corpora

    return _build(
        args,
        build_speech_corpora,
        corpora=_names(args.corpora) or None,
        num_speakers=args.speakers,
        num_sentences=args.sentences,
    )


def run_me(args) -> int:
    from dalib.synth import build_me

    return _build(
        args,
        build_me,
        databases=_names(args.databases) or None,
        num_subjects=args.subjects,
        clips_per_subject=args.clips,
    )
