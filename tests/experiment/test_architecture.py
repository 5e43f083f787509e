"""The layout of issue 10, checked on the source: one training loop, small files and parsers."""

import ast
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import dalib
import dalib.cli

ROOT = Path(dalib.__file__).resolve().parent
MAX_FILE_LINES = 600
MAX_ADD_LINES = 60


def _python_files(folder):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


_LOOPS = ("scan", "fori_loop", "while_loop")


def _loops_in(text, name):
    """Uses of lax's loop primitives in a module's source: attribute calls and imports."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Attribute) and node.attr in _LOOPS:
            found.append(f"{name}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module and "lax" in node.module:
            names = {a.name for a in node.names}
            if names & set(_LOOPS):
                found.append(f"{name}:{node.lineno} imports {sorted(names & set(_LOOPS))}")
    return found


def test_the_experiment_layer_has_no_training_loop_of_its_own():
    """Deep methods train through dalib.train.run_steps: no scan or loop primitive here."""
    found = []
    for path in _python_files(ROOT / "experiment"):
        found += _loops_in(path.read_text(encoding="utf-8"), path.name)
    assert not found, found
    # and the fitting code does use the library's loop
    assert "run_steps" in (ROOT / "experiment" / "fitting.py").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "text",
    [
        "import jax\nx = jax.lax.scan(f, c, xs)\n",
        "from jax import lax\ny = lax.fori_loop(0, 3, f, x)\n",
        "from jax.lax import while_loop\n",
    ],
)
def test_the_loop_check_can_fail(text):
    """The detector above flags a loop primitive written the usual ways."""
    assert _loops_in(text, "m.py")


# Files over the limit today (TEST_FINDINGS.md, finding 2): strict xfail, so the mark
# must go when the file is split.
_OVER: set[str] = set()


def _file_params():
    out = []
    for p in _python_files(ROOT):
        rel = str(p.relative_to(ROOT))
        marks = [pytest.mark.xfail(strict=True, reason="finding 2")] if rel in _OVER else []
        out.append(pytest.param(p, id=rel, marks=marks))
    return out


@pytest.mark.parametrize("path", _file_params())
def test_no_file_in_dalib_is_over_600_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_FILE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def _subcommand_modules():
    return [
        name
        for _, name, _ in pkgutil.iter_modules(dalib.cli.__path__, "dalib.cli.")
        if name.rsplit(".", 1)[1] not in ("_common", "__main__")
    ]


def test_cli_is_a_package_of_small_subcommands():
    import importlib

    modules = _subcommand_modules()
    assert len(modules) >= 6, modules  # synth, features, run, predict, protocol, methods
    assert not hasattr(dalib.cli, "build_parser")  # the 164-line parser is gone
    for name in modules:
        module = importlib.import_module(name)
        assert hasattr(module, "add"), name
        source = inspect.getsource(module.add)
        tree = ast.parse(source)
        (func,) = tree.body
        length = func.end_lineno - func.lineno + 1
        assert length < MAX_ADD_LINES, f"{name}.add is {length} lines"


def test_dalib_features_does_not_import_private_data_modules():
    """dalib.data imports dalib.features; the way back (data._audio, _records) is gone."""
    private = re.compile(r"dalib\.data\._|from dalib\.data import _")
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files(ROOT / "features")
        if private.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders
