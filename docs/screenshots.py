"""Renders pages of the built documentation to PNGs with headless Chromium.

    python docs/screenshots.py [--html docs/_build/html] [--out docs/_screenshots]

Build the docs first (``python -m sphinx -b html docs docs/_build/html``). The
script shoots the index, one gallery page, one tutorial and the API reference
at a desktop and a phone width, so that a broken layout (a missing stylesheet,
a figure overflowing the content column, an empty sidebar) shows up in a look
at the PNGs. It needs a Chromium or Chrome binary (``apt-get install
chromium``); the default test suite does not run it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PAGES = {
    "index": "index.html",
    "gallery_index": "auto_examples/index.html",
    "gallery": "auto_examples/plot_02_two_moons_alignment.html",
    "tutorial": "auto_tutorials/tutorial_01_own_encoder.html",
    "api": "api.html",
    "api_function": "_autosummary/dalib.losses.mmd.html",
}
SIZES = {"desktop": (1400, 1800), "phone": (420, 1600)}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The first Chromium-like binary on ``PATH``, or ``None``."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def shoot(browser: str, page: Path, png: Path, size: tuple[int, int]) -> None:
    """One screenshot of ``page`` at ``size`` (width, height) into ``png``."""
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--allow-file-access-from-files",
        f"--window-size={size[0]},{size[1]}",
        "--virtual-time-budget=4000",  # let MathJax and the theme's scripts run
        f"--screenshot={png}",
        page.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"{browser} wrote no screenshot of {page}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=DOCS / "_build" / "html")
    parser.add_argument("--out", type=Path, default=DOCS / "_screenshots")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print(f"no browser found (tried {', '.join(BROWSERS)}); install chromium", file=sys.stderr)
        return 2
    missing = [p for p in PAGES.values() if not (args.html / p).exists()]
    if missing:
        print(f"not built: {missing} under {args.html}; build the docs first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, page in PAGES.items():
        for size_name, size in SIZES.items():
            png = args.out / f"{name}_{size_name}.png"
            shoot(browser, args.html / page, png, size)
            print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
