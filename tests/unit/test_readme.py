"""Issue 21 §7: the docs and the program name the same things. A search-and-replace once
turned the SQLite busy-timeout variable into ``…_SQLITE_B654 ms, 3.07x …Y_TIMEOUT_MS`` in the
configuration table; this fails when a name the README or a page of the docs site gives does
not exist, or one that exists is not in the docs site (this file names none, so that it proves
none exists). Since issue 22 §6 the README is short and names only what it needs; the site
(``docs/pages/``, built by tests/e2e/test_docs.py) must name every variable and subcommand."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rxfloor.core.config import Settings
from rxfloor.tui.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
#: every page of the documentation site, by its path under docs/pages/
PAGES = {
    str(path.relative_to(ROOT / "docs" / "pages")): path.read_text()
    for path in sorted((ROOT / "docs" / "pages").rglob("*.md"))
}
DOCS = "\n".join(PAGES.values())
ENV = re.compile(r"RXFLOOR_[A-Z][A-Z0-9_]*[A-Z0-9]")
#: settings that are TOML tables: documented by their section, not as a variable
TABLES = {"keys": "[keys]", "sources": "[sources."}


def names_in(*folders: str) -> set[str]:
    found: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(ENV.findall(path.read_text()))
    return found


def settings_variables() -> set[str]:
    return {f"RXFLOOR_{name.upper()}" for name in Settings.model_fields if name not in TABLES}


def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.add(" ".join((*prefix, name)))
                found |= subcommands(sub, (*prefix, name))
    return found


def readme_commands(text: str = README) -> set[str]:
    """``rxfloor WORD [WORD]`` in the command tables and in the code blocks of ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("| `rxfloor")]
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        lines += re.findall(r"^(?:\$ )?(?:uv run )?rxfloor [^\n]*", block, flags=re.MULTILINE)
    found: set[str] = set()
    for line in lines:
        for words in re.findall(r"rxfloor ((?:[a-z][a-z-]*(?:\\\|[a-z-]+)*)(?: [a-z][a-z-]*)?)",
                                line):  # fmt: skip
            first, _, second = words.partition(" ")
            for name in first.split("\\|"):
                found.add(name)
                if second:
                    found.add(f"{name} {second}")
    return found


def test_the_docs_site_has_pages() -> None:
    """The checks below read docs/pages/: an empty or moved folder would prove nothing."""
    assert {"index.md", "cli.md", "operations/configuration.md"} <= set(PAGES)


def test_every_variable_the_readme_names_exists() -> None:
    known = settings_variables() | names_in("core", "tui", "sandbox", "tests", "benchmarks")
    for where, text in {"README.md": README, **PAGES}.items():
        unknown = sorted(set(ENV.findall(text)) - known)
        assert not unknown, f"{where} names variables nothing reads: {unknown}"


def test_every_variable_that_exists_is_in_the_readme() -> None:
    """In the docs site (the README need not name every one any more)."""
    missing = sorted((settings_variables() | names_in("core", "tui")) - set(ENV.findall(DOCS)))
    assert not missing, f"variables the docs never name: {missing}"
    for name, section in TABLES.items():
        assert name in Settings.model_fields and section in DOCS


def _named(text: str, real: set[str]) -> set[str]:
    # a second word after a real subcommand is an argument unless it is a subcommand itself
    return {n for n in readme_commands(text) if n in real or n.split(" ")[0] not in real}


def test_every_subcommand_the_readme_names_exists_and_the_reverse() -> None:
    real = subcommands(build_parser())
    for where, text in {"README.md": README, **PAGES}.items():
        assert sorted(_named(text, real) - real) == [], f"{where} names commands that do not exist"
    named = _named(DOCS, real)
    assert sorted(real - named) == [], "commands the docs' tables never name"
    cli = _named(PAGES["cli.md"], real)
    assert sorted(real - cli) == [], "commands the command line page never names"
