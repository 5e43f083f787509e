"""The API reference lists every public symbol of every public module."""

import importlib
import re
from pathlib import Path

import pytest

PUBLIC_MODULES = [
    "dalib.kernels",
    "dalib.losses",
    "dalib.ops",
    "dalib.stats",
    "dalib.metrics",
    "dalib.nn",
    "dalib.train",
    "dalib.data",
    "dalib.features",
    "dalib.synth",
    "dalib.shallow",
    "dalib.selection",
    "dalib.experiment",
]

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def _documented(module: str) -> set[str]:
    text = API.read_text(encoding="utf-8")
    block = re.search(
        rf"\.\. currentmodule:: {re.escape(module)}\n(.*?)(?=\.\. currentmodule::|\Z)", text, re.S
    )
    assert block, f"docs/api.rst has no section for {module}"
    body = block.group(1)
    return set(re.findall(r"^\s{3}(\w+)\s*$", body, re.M)) | set(
        re.findall(r"^- ``(\w+)``", body, re.M)
    )


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_symbol_is_in_the_api_page(module):
    mod = importlib.import_module(module)
    public = set(getattr(mod, "__all__", ()))
    assert public, f"{module} defines no __all__"
    missing = public - _documented(module)
    assert not missing, f"docs/api.rst lacks {sorted(missing)} from {module}"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_symbol_has_a_docstring(module):
    mod = importlib.import_module(module)
    undocumented = [
        n
        for n in getattr(mod, "__all__", ())
        if callable(getattr(mod, n)) and not (getattr(mod, n).__doc__ or "").strip()
    ]
    assert not undocumented, f"{module}: no docstring on {undocumented}"


DOCS = API.parent


def _gallery_conf() -> dict:
    import runpy

    return runpy.run_path(str(DOCS / "conf.py"))["sphinx_gallery_conf"]


def _gallery_scripts() -> list[Path]:
    conf = _gallery_conf()
    return sorted(
        p
        for folder in conf["examples_dirs"]
        for p in (DOCS / folder).glob("*.py")
        if not p.name.startswith("_")
    )


def test_every_gallery_script_is_executed_by_the_docs_build():
    """A script whose name misses the pattern would be shown without running."""
    conf = _gallery_conf()
    scripts = _gallery_scripts()
    assert len(scripts) >= 8, [p.name for p in scripts]
    for path in scripts:
        assert re.search(conf["filename_pattern"], "/" + path.name), path.name
    assert conf["abort_on_example_error"], "a failing example must fail the docs build"


@pytest.mark.parametrize("path", _gallery_scripts(), ids=lambda p: p.name)
def test_gallery_script_has_a_title_and_no_static_image(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith('r"""\n'), f"{path.name}: start with a r-docstring holding the title"
    lines = text.splitlines()
    assert set(lines[2]) == {"="} and len(lines[2]) >= len(lines[1]), f"{path.name}: title"
    for pattern in (r"\.\. image::", r"imread\(", r"\.png"):
        assert not re.search(pattern, text), f"{path.name}: figures must be computed ({pattern})"


def test_gallery_and_tutorials_are_in_the_toctree():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for gallery in _gallery_conf()["gallery_dirs"]:
        assert f"{gallery}/index" in index
    ignored = (API.parents[1] / ".gitignore").read_text(encoding="utf-8")
    for gallery in _gallery_conf()["gallery_dirs"]:
        assert f"docs/{gallery}/" in ignored, "generated gallery pages are build outputs"


def test_screenshot_script_explains_what_it_needs(tmp_path, capsys):
    import runpy

    main = runpy.run_path(str(DOCS / "screenshots.py"))["main"]
    assert main(["--html", str(tmp_path / "missing"), "--out", str(tmp_path / "png")]) == 2
    err = capsys.readouterr().err
    assert "build the docs first" in err or "install chromium" in err
    assert not (tmp_path / "png").exists()
