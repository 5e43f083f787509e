"""Writes docs/api.rst from the ``__all__`` of every public module.

    python docs/make_api.py

The test ``tests/test_docs.py`` fails when a public symbol is missing from the
page, so run this after adding one.
"""

import importlib
import inspect
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODULES = {
    "dalib.kernels": "Kernels",
    "dalib.losses": "Alignment losses",
    "dalib.ops": "Operations and schedules",
    "dalib.stats": "Statistics",
    "dalib.metrics": "Metrics",
    "dalib.nn": "Flax modules",
    "dalib.train": "Training",
    "dalib.audio": "Audio decoding",
    "dalib.data": "Corpora and feature tables",
    "dalib.features": "Features",
    "dalib.synth": "Synthetic corpora",
    "dalib.shallow": "Shallow baselines",
    "dalib.selection": "Label-free model selection",
    "dalib.experiment": "Experiments",
}


def _is_documented_object(obj) -> bool:
    """Functions, classes and modules get their own page; constants a line."""
    return callable(obj) or inspect.ismodule(obj)


def _describe(value) -> str:
    # Without the memory addresses of functions, so that the page is the same at every run.
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
    return text if len(text) <= 70 else text[:67] + "..."


def main() -> None:
    lines = ["API reference", "=============", ""]
    for name, title in MODULES.items():
        mod = importlib.import_module(name)
        lines += [
            title,
            "-" * len(title),
            "",
            f".. automodule:: {name}",
            "   :no-members:",
            "",
            f".. currentmodule:: {name}",
            "",
            ".. autosummary::",
            "   :toctree: _autosummary",
            "",
        ]
        functions = [n for n in mod.__all__ if _is_documented_object(getattr(mod, n))]
        constants = [n for n in mod.__all__ if n not in functions]
        lines += [f"   {n}" for n in functions]
        lines.append("")
        if constants:
            lines += ["Constants:", ""]
            lines += [f"- ``{n}``: ``{_describe(getattr(mod, n))}``" for n in constants]
            lines.append("")
    out = Path(__file__).with_name("api.rst")
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
