"""Writes docs/api.rst from the ``__all__`` of every public module.

    python docs/make_api.py

The test ``tests/test_docs.py`` fails when a public symbol is missing from the
page, so run this after adding one.
"""

import importlib
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
    "dalib.data": "Corpora and feature tables",
    "dalib.features": "Features",
    "dalib.synth": "Synthetic corpora",
    "dalib.shallow": "Shallow baselines",
    "dalib.selection": "Label-free model selection",
    "dalib.experiment": "Experiments",
}


def main() -> None:
    lines = ["API reference", "=============", ""]
    for name, title in MODULES.items():
        mod = importlib.import_module(name)
        lines += [title, "-" * len(title), "", f".. automodule:: {name}", "   :no-members:", "",
                  f".. currentmodule:: {name}", "", ".. autosummary::", "   :toctree: _autosummary",
                  ""]
        lines += [f"   {n}" for n in mod.__all__]
        lines.append("")
    out = Path(__file__).with_name("api.rst")
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
