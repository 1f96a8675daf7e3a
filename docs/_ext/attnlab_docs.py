"""Sphinx extension of the attnlab docs: pages generated from the code at build time, so they cannot drift.

* ``attnlab-cli`` — the CLI reference, walked from :func:`attnlab.cli.build_parser` (every command, every flag,
  its default and choices);
* ``attnlab-api PACKAGE`` — one ``automodule`` section per public module of PACKAGE (recursing into
  subpackages), so a new module appears in the API reference without anyone editing the docs;
* the troubleshooting page takes the generated catalogue ``docs/bad-inputs.md`` when it exists;
* any top-level page in docs/ that no toctree lists goes into a hidden "more" toctree (instead of a warning
  that would fail the build of whoever added it).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_UNDERLINES = "=-~^\"'"
_RST_SPECIAL = re.compile(r"([\\*_|<>\[\]])")


def rst_text(text: str) -> str:
    """Plain help text as rST: `code` becomes a literal, every other markup character is escaped."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"``{part[1:-1]}``")
        else:
            out.append(_RST_SPECIAL.sub(r"\\\1", part))
    return "".join(out)


def _title(text: str, level: int) -> list[str]:
    return [text, _UNDERLINES[level] * len(text), ""]


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand, in the order they were added."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            out += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return out


def _describe(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    formatter = parser._get_formatter()
    if action.option_strings:
        metavar = "" if action.nargs == 0 else " " + formatter._format_args(action, action.dest.upper())
        term = ", ".join(f"``{s}{metavar}``" for s in action.option_strings)
    else:
        term = f"``{formatter._format_args(action, action.dest)}``"
    notes = []
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        notes.append("choices: " + ", ".join(f"``{c}``" for c in action.choices))
    if action.required and action.option_strings:
        notes.append("required")
    if action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0:
        notes.append(f"default: ``{action.default}``")
    if isinstance(action, argparse._AppendAction):
        notes.append("repeatable")
    help_text = rst_text(formatter._expand_help(action)) if action.help else ""
    body = "; ".join(x for x in [help_text, *notes] if x) or "(no description)"
    return [term, f"   {body}", ""]


def _command_lines(path: str, help_text: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = _title(path, level)
    if help_text:
        lines += [rst_text(help_text[0].upper() + help_text[1:]) + ".", ""]
    usage = parser.format_usage().strip()
    lines += [".. code-block:: text", "", *("   " + u for u in usage.splitlines()), ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help != argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)]
        if not actions:
            continue
        title = {"positional arguments": "Arguments", "options": "Options"}.get(group.title, group.title.capitalize())
        lines += [f"**{rst_text(title)}**", ""]
        for action in actions:
            lines += _describe(parser, action)
    for name, sub_help, sub in _subparsers(parser):
        lines += _command_lines(f"{path} {name}", sub_help, sub, level + 1)
    return lines


def cli_reference_lines() -> list[str]:
    """The whole CLI reference as rST lines, from the live parser."""
    from attnlab.cli import build_parser

    parser = build_parser()
    lines = [rst_text(parser.description or ""), "", ".. code-block:: text", "",
             *("   " + u for u in parser.format_usage().strip().splitlines()), ""]
    for action in parser._actions:
        if action.option_strings and action.help != argparse.SUPPRESS:
            lines += _describe(parser, action)
    for name, sub_help, sub in _subparsers(parser):
        lines += _command_lines(f"attnlab {name}", sub_help, sub, 0)
    return lines


def public_modules(package: str) -> list[str]:
    """PACKAGE and its public submodules, depth first, in name order (names starting with _ are private)."""
    mod = importlib.import_module(package)
    names = [package]
    for info in sorted(pkgutil.iter_modules(mod.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or (package == "attnlab" and info.ispkg):
            continue
        full = f"{package}.{info.name}"
        names += public_modules(full) if info.ispkg else [full]
    return names


class _Generated(SphinxDirective):
    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        node = nodes.section()
        node.document = self.state.document
        source = self.get_source_info()[0]
        nested_parse_with_titles(self.state, StringList(lines, source=source), node)
        return node.children


class CliDirective(_Generated):
    """``attnlab-cli``: the CLI reference generated from ``attnlab.cli.build_parser()``."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(Path(__file__)))
        return self._parse(cli_reference_lines())


class ApiDirective(_Generated):
    """``attnlab-api PACKAGE``: an automodule section for PACKAGE and each public module under it."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for i, name in enumerate(public_modules(self.arguments[0])):
            is_pkg = hasattr(importlib.import_module(name), "__path__")
            if i:
                lines += _title(f"``{name}``", 0)
            lines += [f".. automodule:: {name}"]
            # a package's __init__ re-exports its modules' names: document them once, where they are defined
            lines += ["   :no-members:" if is_pkg else "   :members:", ""]
        return self._parse(lines)


def _troubleshooting(app, docname: str, source: list[str]) -> None:
    if docname != "troubleshooting":
        return
    catalogue = Path(app.srcdir) / "bad-inputs.md"
    if catalogue.is_file():  # the generated catalogue (tests/…): every message produced by a test
        source[0] = source[0].replace("<!-- bad-inputs -->", "```{include} bad-inputs.md\n:heading-offset: 1\n```")
        app.env.note_dependency(str(catalogue))


def _orphans(app, docname: str, source: list[str]) -> None:
    if docname != app.config.root_doc:
        return
    srcdir = Path(app.srcdir)
    listed = set(re.findall(r"^([\w/.-]+?)(?:\.md)?$", source[0], flags=re.M))
    skip = {app.config.root_doc, "bad-inputs"}
    extra = sorted(p.stem for p in srcdir.glob("*.md") if p.stem not in listed | skip)
    if extra:
        source[0] += "\n```{toctree}\n:hidden:\n:caption: More\n\n" + "\n".join(extra) + "\n```\n"


def setup(app):
    app.add_directive("attnlab-cli", CliDirective)
    app.add_directive("attnlab-api", ApiDirective)
    app.connect("source-read", _troubleshooting)
    app.connect("source-read", _orphans)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
