"""The packages are found, not listed: a new source (``core/sources/<name>/``) or stand-in
(``sandbox/<name>/``) is in the wheel with no edit here or in ``pyproject.toml``, where the
rest of the build is configured (the folders install under ``rxfloor.``: ``package-dir``)."""

from pathlib import Path

from setuptools import setup

#: each installed package root and its folder
ROOTS = {"rxfloor.core": "core", "rxfloor.tui": "tui", "rxfloor.sandbox": "sandbox",
         "rxfloor.themes": "themes"}  # fmt: skip


def packages() -> list[str]:
    """Every folder under a root that holds an ``__init__.py``, as its installed name."""
    found = []
    for name, folder in ROOTS.items():
        for init in sorted(Path(__file__).parent.joinpath(folder).rglob("__init__.py")):
            parts = init.parent.relative_to(Path(__file__).parent / folder).parts
            found.append(".".join((name, *parts)))
    return found


setup(packages=packages())
