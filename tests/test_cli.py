"""The ``dalib`` command line: help, runs, protocol sweeps, reproducibility and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dalib import cli
from dalib.experiment import registry, sweep

from .cli.conftest import TINY, write_tables


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return write_tables(tmp_path_factory.mktemp("tables"))


def _run(capsys, *argv):
    """``dalib ARGV`` in this process; argparse's own rejections (exit 2) too."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv,options",
    [
        ([], ["synth", "features", "run", "predict", "protocol", "methods"]),
        (
            ["run"],
            [
                "--source",
                "--target",
                "--method",
                "--seeds",
                "--out",
                "--config",
                "--set",
                "--selection",
                "--classes",
                "--name",
                "--quiet",
                "oracle",
                "--method",
                "dalib methods",  # the method list moved there (issue 10: from the registry)
            ],
        ),
        (
            ["protocol"],
            [
                "--synthetic",
                "--root",
                "--tables",
                "--methods",
                "--seeds",
                "--out",
                "--tasks",
                "--feature-set",
                "--synth-root",
                "--synth-seed",
                "--config",
                "--set",
                "--selection",
                "ser",
                "mer",
            ],
        ),
        (["features"], ["--corpus", "--root", "--set", "--out", "--sample-rate", "--no-cache"]),
        (["predict"], ["--run", "--table", "--out"]),
        (
            ["synth", "speech"],
            [
                "--out",
                "--seed",
                "--feature-sets",
                "--corpora",
                "--workers",
                "--speakers",
                "--sentences",
                "--force",
            ],
        ),
    ],
)
def test_help_explains_every_option(capsys, argv, options):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out, option


def test_methods_lists_every_method(capsys):
    code, out, _ = _run(capsys, "methods")
    assert code == 0
    for name in registry.names():
        assert f"\n{name} " in "\n" + out, name
        assert registry.get(name).reference in out, name


def test_run_on_arbitrary_tables_reports_the_class_mapping(capsys, tables, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = _run(
        capsys,
        "run",
        "--source",
        tables["S"],
        "--target",
        tables["T"],
        "--method",
        "source_only",
        "--seeds",
        2,
        "--out",
        out_dir,
        *TINY,
    )
    assert code == 0, err
    assert "| source_only |" in out and "src->tgt" in out
    assert "dropped from source: boredom (10 samples)" in out
    assert "dropped from target: surprise (10 samples)" in out
    metrics = json.loads((out_dir / "source_only" / "seed_1" / "metrics.json").read_text())
    assert metrics["class_mapping"]["classes"] == ["angry", "happy", "sad"]
    config = json.loads((out_dir / "source_only" / "seed_1" / "config.json").read_text())
    assert config["train"]["steps"] == 12 and config["seed"] == 1
    for name in ("results_uar.md", "results_uar.csv", "results_war.md", "results_war.csv"):
        assert (out_dir / name).is_file()
    # Changed with issue 10: `dalib run` adapts to every target row by default
    # (data.target_rows=all; scoring still uses the labelled rows of the shared classes)
    # and a deep run saves its model for `dalib predict`.
    assert config["data"]["target_rows"] == "all"
    assert metrics["num_target_adapted"] == 40 and metrics["num_target_scored"] == 30
    assert (out_dir / "source_only" / "seed_1" / "model" / "model.json").is_file()


def test_run_with_a_config_file_and_overrides(capsys, tables, tmp_path):
    # The per-method config files are gone (issue 10: defaults live in the registry);
    # a user's config file sets a method and its options.
    config = tmp_path / "my_tca.py"
    config.write_text(
        "from dalib.experiment import default_config\n\n\n"
        "def get_config():\n"
        "    c = default_config()\n"
        "    c.method = 'tca'\n"
        "    c.options.dim = 3\n"
        "    c.seeds = 5\n"
        "    return c\n"
    )
    code, _out, err = _run(
        capsys,
        "run",
        "--source",
        tables["S"],
        "--target",
        tables["T"],
        "--config",
        config,
        "--seeds",
        1,
        "--out",
        tmp_path,
        "--set",
        "options.mu=0.5",
        *TINY,
    )
    assert code == 0, err
    resolved = json.loads((tmp_path / "tca" / "seed_0" / "config.json").read_text())
    assert resolved["method"] == "tca" and resolved["seeds"] == 1
    assert resolved["options"]["dim"] == 3 and resolved["options"]["mu"] == 0.5
    assert not (tmp_path / "tca" / "seed_1").exists()


def test_protocol_table_is_reproduced_exactly(capsys, tables, tmp_path):
    argv = [
        "protocol",
        "ser",
        "--tables",
        f"B={tables['B']},E={tables['E']},C={tables['C']}",
        "--methods",
        "source_only,svm",
        "--tasks",
        "B->E,C->B",
        "--seeds",
        2,
        *TINY,
    ]
    first = _run(capsys, *argv, "--out", tmp_path / "a")
    second = _run(capsys, *argv, "--out", tmp_path / "b")
    assert first[0] == 0 and second[0] == 0, first[2] + second[2]
    for name in ("results_uar.csv", "results_war.csv", "results_uar.md"):
        a, b = (tmp_path / d / name for d in "ab")
        assert a.read_text() == b.read_text()
    assert "| svm " in first[1] and "B->E" in first[1] and "C->B" in first[1]
    csv_text = (tmp_path / "a" / "results_uar.csv").read_text()
    assert "average mean" in csv_text.splitlines()[0]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["run", "--source", "{S}", "--target", "{T}", "--method", "dnn"], "unknown method 'dnn'"),
        (
            ["run", "--source", "{tmp}/missing.npz", "--target", "{T}", "--method", "svm"],
            "missing.npz does not exist",
        ),
        (["run", "--source", "{S}", "--target", "{X}", "--method", "svm"], "share 0 class"),
        (
            ["run", "--source", "{S}", "--target", "{D4}", "--method", "svm"],
            "source table has 6 features per row and the target table has 4",
        ),
        (["run", "--source", "{S}", "--target", "{T}", "--set", "train.stepz=3"], "unknown key"),
        (
            [
                "run",
                "--source",
                "{S}",
                "--target",
                "{T}",
                "--method",
                "dann",
                "--set",
                "options.margin=4.0",
            ],
            "no option",
        ),
        (["protocol", "nope", "--out", "{tmp}/out"], "invalid choice: 'nope'"),
        (
            ["protocol", "ser", "--methods", "source_only,nope", "--out", "{tmp}/out"],
            "unknown method 'nope'",
        ),
        (
            ["protocol", "ser", "--tasks", "B->X", "--out", "{tmp}/out", "--methods", "svm"],
            r"unknown ser task(s) ['B->X']",
        ),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(capsys, tables, tmp_path, argv, match):
    values = {k: str(v) for k, v in tables.items()} | {"tmp": str(tmp_path)}
    argv = [a.format(**values) for a in argv]
    out_dir = tmp_path / "out"
    if "--out" not in argv:
        argv += ["--out", str(out_dir)]
    code, _out, err = _run(capsys, *argv, "--quiet")
    assert code == 2
    assert match in err and err.startswith(("dalib ", "usage: dalib ")), err
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_failed_runs_exit_nonzero_and_are_redone(capsys, tables, tmp_path, monkeypatch):
    real_run_one = sweep.run_one

    def broken(spec, task, seed, *args, **kwargs):
        if seed == 1:
            raise FloatingPointError("training diverged")
        return real_run_one(spec, task, seed, *args, **kwargs)

    argv = [
        "run",
        "--source",
        tables["S"],
        "--target",
        tables["T"],
        "--method",
        "svm",
        "--seeds",
        2,
        "--out",
        tmp_path,
        *TINY,
    ]
    monkeypatch.setattr(sweep, "run_one", broken)
    code, out, err = _run(capsys, *argv)
    assert code == 1
    assert "training diverged" in err and "run the same command again" in err
    table = (tmp_path / "results_uar.md").read_text()
    assert "INCOMPLETE: 1 of 2 requested runs" in table
    monkeypatch.setattr(sweep, "run_one", real_run_one)
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    assert "1 run(s) done, 1 already complete" in out
    assert "INCOMPLETE" not in (tmp_path / "results_uar.md").read_text()


def test_console_script_entry_point(tables, tmp_path):
    """``python -m dalib.cli`` exits with the status main() returns."""
    out = str(tmp_path / "o")
    proc = subprocess.run(
        [sys.executable, "-m", "dalib.cli", "protocol", "ser", "--methods", "nope", "--out", out],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "unknown method 'nope'" in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


def test_features_writes_a_table_from_a_corpus_folder(capsys, tmp_path):
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(4000) / 16000
    for i, stem in enumerate(["03a01Wa", "03a01Ta", "08a02Fb", "09b03Na"]):
        path = tmp_path / "emodb" / "wav" / f"{stem}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        x = 0.3 * np.sin(2 * np.pi * (150 + 20 * i) * t) + 0.01 * rng.normal(size=t.shape)
        sf.write(path, x, 16000, "PCM_16")
    out = tmp_path / "emodb.npz"
    code, stdout, err = _run(
        capsys,
        "features",
        "--corpus",
        "emodb",
        "--root",
        tmp_path / "emodb",
        "--set",
        "is09",
        "--out",
        out,
        "--no-cache",
    )
    assert code == 0, err
    from dalib.data import load_table

    table = load_table(out)
    assert table.features.shape == (4, 384)
    assert sorted(table.labels.tolist()) == ["angry", "happy", "neutral", "sad"]
    assert "4 rows x 384 features" in stdout


def test_features_on_a_wrong_folder_fails_clearly(capsys, tmp_path):
    code, _, err = _run(
        capsys,
        "features",
        "--corpus",
        "emodb",
        "--root",
        tmp_path / "none",
        "--set",
        "is09",
        "--out",
        tmp_path / "t.npz",
    )
    assert code == 2 and "emodb" in err.lower()
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.slow
def test_synth_speech_builds_a_small_corpus(capsys, tmp_path):
    code, out, err = _run(
        capsys,
        "synth",
        "speech",
        "--out",
        tmp_path,
        "--corpora",
        "B",
        "--speakers",
        1,
        "--sentences",
        1,
        "--feature-sets",
        "is09",
        "--workers",
        0,
    )
    assert code == 0, err
    assert "synth-emodb" in out
    assert (tmp_path / "synth-emodb" / "features" / "is09.npz").is_file()


def test_protocol_on_real_corpus_layouts(capsys, tmp_path):
    """--root: the three corpora in their original layouts -> features -> all six tasks."""
    from .data import fixtures

    root = tmp_path / "corpora"
    fixtures.make_emodb(root / "emodb")
    fixtures.make_enterface(root / "enterface")
    fixtures.make_casia(root / "casia")
    out = tmp_path / "out"
    argv = ["protocol", "ser", "--root", root, "--methods", "source_only,svm", "--seeds", 1]
    code, stdout, err = _run(capsys, *argv, *TINY, "--out", out)
    assert code == 0, err
    for corpus, rows in (("emodb", 10), ("enterface", 9), ("casia", 18)):
        from dalib.data import load_table

        table = load_table(out / "features" / f"{corpus}_is09.npz")
        assert table.features.shape == (rows, 384)
    for task in ("B->E", "E->B", "B->C", "C->B", "E->C", "C->E"):
        assert task in stdout
    record = json.loads((out / "svm" / "C_to_E" / "seed_0" / "metrics.json").read_text())
    # E has 9 clips; E<->C drops its one disgust clip.
    assert record["corpora"] == "user" and record["num_target_scored"] == 8
    assert "Corpora: user" in (out / "results_uar.md").read_text()
    # A second call reuses the extracted features and the finished runs.
    code, stdout, err = _run(capsys, *argv, *TINY, "--out", out)
    assert code == 0, err


def test_protocol_root_without_a_corpus_names_the_layout(capsys, tmp_path):
    from .data import fixtures

    root = tmp_path / "corpora"
    fixtures.make_emodb(root / "emodb")
    fixtures.make_casia(root / "casia")
    out = tmp_path / "out"
    code, _, err = _run(
        capsys, "protocol", "ser", "--root", root, "--methods", "svm", *TINY, "--out", out
    )
    assert code == 2 and "enterface" in err.lower(), err


def test_protocol_refuses_a_synthetic_build_of_another_seed(capsys, tmp_path):
    # Build K > 0 is looked for in SYNTH_ROOT/seed_K; plant a build of seed 0 there.
    synth = tmp_path / "synth"
    out = tmp_path / "out"
    argv = ["protocol", "ser", "--synthetic", "--synth-root", synth, "--methods", "svm"]
    (synth / "seed_3" / "synth-emodb").mkdir(parents=True)
    (synth / "seed_3" / "synth-emodb" / "manifest.json").write_text(json.dumps({"seed": 0}))
    code, _, err = _run(capsys, *argv, "--synth-seed", 3, *TINY, "--out", out)
    assert code == 2 and "seed 0" in err and "synth_seed is 3" in err, err
    assert not out.exists()
    code, _, err = _run(capsys, *argv, "--synth-seed", -1, *TINY, "--out", out)
    assert code == 2 and "--synth-seed must be >= 0" in err
