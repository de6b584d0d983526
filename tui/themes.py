"""Load the themes shipped in ``rxfloor/themes/themes.toml`` and register them on the app."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any

from textual.app import App
from textual.theme import Theme

DEFAULT_THEME = "rxfloor-dark"


def load_themes() -> list[Theme]:
    text = files("rxfloor.themes").joinpath("themes.toml").read_text(encoding="utf-8")
    return [Theme(name=name, **fields) for name, fields in tomllib.loads(text).items()]


def register_themes(app: App[Any]) -> None:
    for theme in load_themes():
        app.register_theme(theme)
