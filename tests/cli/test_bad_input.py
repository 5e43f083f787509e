"""Bad command-line input (issue 16): exit 2 with a clear message, before anything is written."""

import numpy as np
import pytest

from dalib.data import save_table

from .conftest import TINY, ser_tables_arg


@pytest.fixture(scope="module")
def bad(tmp_path_factory, tables):
    """Broken inputs next to the good tables."""
    d = tmp_path_factory.mktemp("bad")
    good = tables["S"].read_bytes()
    (d / "truncated.npz").write_bytes(good[: len(good) // 2])
    (d / "random.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "folder.npz").mkdir()
    (d / "a_file").write_text("not a folder")
    (d / "syntax.py").write_text(
        "from dalib.experiment import default_config\n\ndef get_config(:\n    return 1\n"
    )
    return d


def _run(capsys, *argv):
    from dalib import cli

    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own rejections
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def _pair(tables, method="source_only"):
    return ["run", "--source", tables["S"], "--target", tables["T"], "--method", method]


def _untouched(path):
    """The --out folder is absent, or was there already and is still empty."""
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


@pytest.mark.parametrize("command", ["run", "protocol"])
@pytest.mark.parametrize("where", ["is_a_file", "under_a_file"])
def test_out_that_is_or_lies_under_a_file(capsys, tables, bad, tmp_path, command, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep")
    out = blocker if where == "is_a_file" else blocker / "sub" / "dir"
    if command == "run":
        argv = [*_pair(tables, "svm"), "--out", out]
    else:
        argv = ["protocol", "ser", "--tables", ser_tables_arg(tables), "--methods", "svm"]
        argv += ["--out", out]
    code, _, err = _run(capsys, *argv, *TINY)
    assert code == 2, err
    assert "--out" in err and str(blocker) in err and "Traceback" not in err
    assert "NotADirectoryError" not in err and "FileNotFoundError" not in err
    assert blocker.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_config_with_a_syntax_error_names_the_line(capsys, tables, bad, tmp_path):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_pair(tables), "--config", bad / "syntax.py", "--out", out)
    assert code == 2, err
    assert "syntax.py" in err and "line 3" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3
    assert _untouched(out)


@pytest.mark.parametrize(
    "name,says",
    [
        pytest.param(
            "truncated.npz",
            ("truncated", "not a valid", "corrupt", "cannot read", "not a zip"),
        ),
        pytest.param(
            "random.npz",
            ("not a valid", "corrupt", "cannot read", "not a .npz", "not a zip"),
        ),
    ],
)
def test_unreadable_npz_tables(capsys, tables, bad, tmp_path, name, says):
    out = tmp_path / "out"
    argv = ["run", "--source", bad / name, "--target", tables["T"], "--out", out]
    code, _, err = _run(capsys, *argv, *TINY)
    assert code == 2, err
    assert name in err, err  # the message names the file
    assert any(s in err.lower() for s in says), err
    assert "pickle" not in err.lower() and "BadZipFile" not in err, err
    assert "Traceback" not in err
    assert _untouched(out)


def test_a_folder_as_table(capsys, tables, bad, tmp_path):
    out = tmp_path / "out"
    argv = ["run", "--source", bad / "folder.npz", "--target", tables["T"], "--out", out]
    code, _, err = _run(capsys, *argv, *TINY)
    assert code == 2, err
    assert "folder" in err and "does not exist" not in err
    assert _untouched(out)


def test_protocol_tables_name_an_unknown_domain(capsys, tables, tmp_path):
    out = tmp_path / "out"
    extra = f"{ser_tables_arg(tables)},X={tables['S']}"
    argv = ["protocol", "ser", "--tables", extra, "--methods", "svm", "--out", out]
    code, _, err = _run(capsys, *argv, *TINY)
    assert code == 2, err
    assert "'X'" in err and "not a domain of protocol 'ser'" in err
    assert _untouched(out)


@pytest.mark.parametrize("flag", ["--methods", "--tasks"])
def test_empty_lists_are_refused(capsys, tables, tmp_path, flag):
    out = tmp_path / "out"
    argv = ["protocol", "ser", "--tables", ser_tables_arg(tables), flag, "", "--out", out]
    code, _, err = _run(capsys, *argv, *TINY)
    assert code == 2, err
    assert f"{flag} is empty" in err
    assert _untouched(out)


@pytest.mark.parametrize(
    "extra,says",
    [
        (["--out", "{tmp}/x.txt"], "--out"),
        (["--out", "{tmp}/x.npz", "--sample-rate", "-1"], "--sample-rate"),
    ],
)
def test_features_checks_its_options_before_the_corpus(capsys, tmp_path, extra, says):
    """The corpus root does not exist either: the option is reported first."""
    extra = [e.format(tmp=tmp_path) for e in extra]
    argv = ["features", "--corpus", "emodb", "--root", tmp_path / "no_corpus", "--set", "is09"]
    code, _, err = _run(capsys, *argv, *extra)
    assert code == 2, err
    assert says in err and "no_corpus" not in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv,says",
    [
        (["--method", "dnn"], "unknown method 'dnn' (did you mean 'dann'?)"),
        (["--method", "dann", "--set", "options.margin=4.0"], "no option(s) ['margin']"),
        (["--method", "dann", "--set", "options.weight=-1.0"], "must be >= 0"),
        (["--method", "dann", "--set", "train.learning_rate=0"], "train.learning_rate"),
    ],
)
def test_unknown_methods_and_options(capsys, tables, tmp_path, argv, says):
    out = tmp_path / "out"
    base = ["run", "--source", tables["S"], "--target", tables["T"]]
    code, _, err = _run(capsys, *base, *argv, "--out", out, *TINY)
    assert code == 2, err
    assert says in err
    assert _untouched(out)


def test_divergence_is_reported_with_its_step(capsys, tables, tmp_path):
    """A learning rate of 1e9: 'training diverged at step K', not a plotting error."""
    out = tmp_path / "out"
    argv = [*_pair(tables), "--seeds", 1, "--out", out, *TINY]
    # every plot kind on (TINY turns them off): the old failure was PCA on NaN features
    argv += ["--set", "train.learning_rate=1e9", "--set", "plots.kinds=tsne,confusion,curves"]
    code, _, err = _run(capsys, *argv)
    assert code == 1, err
    assert "training diverged at step" in err
    assert "PCA" not in err and "NaN" not in err.split("diverged")[0]
    assert not (out / "source_only" / "seed_0" / "COMPLETE").exists()


def test_iwv_on_a_tiny_source_says_why(capsys, tables, tmp_path):
    """Four source rows leave no class with the 3 rows a validation split needs."""
    source = save_table(
        tmp_path / "four.npz",
        np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32),
        ["angry", "angry", "happy", "sad"],
    )
    out = tmp_path / "out"
    argv = ["run", "--source", source, "--target", tables["T"], "--method", "source_only"]
    code, _, err = _run(capsys, *argv, "--selection", "iwv", "--seeds", 1, "--out", out, *TINY)
    assert code in (1, 2), err
    assert "iwv" in err and "fewer than 3 source rows" in err
    assert "evaluate_at" not in err and "Traceback" not in err
