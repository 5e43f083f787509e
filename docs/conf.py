"""Sphinx configuration for the dalib documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

# Imported after the path insert: the checkout's version, not an installed copy's.
import dalib

project = "dalib"
author = "dalib developers"
copyright = "2026, dalib developers"
release = dalib.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# The gallery sources are read by sphinx-gallery, which writes the pages into
# auto_examples/ and auto_tutorials/ (git-ignored, kept between builds as a cache).
exclude_patterns = ["_build", "examples", "tutorials", "screenshots.py"]
autosummary_generate = True
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "imported-members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
nitpicky = False
suppress_warnings = ["myst.header"]

# -- HTML: Furo, with the package version in the title and the sidebar -------
html_theme = "furo"
html_title = f"dalib {release}"
html_static_path = ["_static"]
html_css_files = ["gallery.css"]
html_theme_options = {"navigation_with_keys": True}
pygments_style = "friendly"
pygments_dark_style = "monokai"

# -- Gallery: every script runs at build time and its figures are scraped -----
# Only examples whose source changed are run again when auto_examples/ is kept
# (sphinx-gallery compares an MD5 of each script); a clean clone runs them all.
sphinx_gallery_conf = {
    "examples_dirs": ["examples", "tutorials"],
    "gallery_dirs": ["auto_examples", "auto_tutorials"],
    "filename_pattern": r"[\\/](plot|tutorial)_",
    "ignore_pattern": r"[\\/]_",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "reference_url": {"dalib": None},
    "capture_repr": ("_repr_html_", "__repr__"),
}
