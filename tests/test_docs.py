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
