"""Issue 21 §7: the README and the program name the same things. A search-and-replace once
turned the SQLite busy-timeout variable into ``…_SQLITE_B654 ms, 3.07x …Y_TIMEOUT_MS`` in the
configuration table; this fails when a name the README gives does not exist, or one that
exists is not in the README (this file names none, so that it proves none exists)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rxfloor.core.config import Settings
from rxfloor.tui.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
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


def readme_commands() -> set[str]:
    """``rxfloor WORD [WORD]`` in the command table and in the code blocks."""
    lines = [line for line in README.splitlines() if line.startswith("| `rxfloor")]
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL):
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


def test_every_variable_the_readme_names_exists() -> None:
    known = settings_variables() | names_in("core", "tui", "sandbox", "tests", "benchmarks")
    unknown = sorted(set(ENV.findall(README)) - known)
    assert not unknown, f"the README names variables nothing reads: {unknown}"


def test_every_variable_that_exists_is_in_the_readme() -> None:
    missing = sorted((settings_variables() | names_in("core", "tui")) - set(ENV.findall(README)))
    assert not missing, f"variables the README never names: {missing}"
    for name, section in TABLES.items():
        assert name in Settings.model_fields and section in README


def test_every_subcommand_the_readme_names_exists_and_the_reverse() -> None:
    real = subcommands(build_parser())
    named = readme_commands()
    # a second word after a real subcommand is an argument unless it is a subcommand itself
    named = {n for n in named if n in real or n.split(" ")[0] not in real}
    assert sorted(named - real) == [], "the README names commands that do not exist"
    assert sorted(real - named) == [], "commands the README's table never names"
