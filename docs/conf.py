"""Sphinx configuration for the lrcontrol documentation."""

project = "lrcontrol"
author = "lrcontrol developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]
autosummary_generate = True
numpydoc_show_class_members = False
nb_execution_mode = "off"
exclude_patterns = ["_build"]
html_theme = "alabaster"
