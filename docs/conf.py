"""Sphinx configuration of the attnlab documentation (``make docs``; built with warnings as errors)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent / "src"))  # the tree being documented, even without an editable install

from attnlab import __version__  # noqa: E402

project = "attnlab"
author = "the attnlab developers"
copyright = "the attnlab developers; Apache-2.0"  # noqa: A001
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "attnlab_docs",
]
smartquotes = False  # `--flag` stays two hyphens
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "bad-inputs.md", "gallery/*/output.md", "gallery/.*"]  # included by pages
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" as fields: NamedTuple fields are documented once, by autodoc

html_theme = "alabaster"
html_title = f"attnlab {release}"
html_static_path: list[str] = []
html_theme_options = {"description": "attention models for NLP, evaluated honestly", "fixed_sidebar": True}
