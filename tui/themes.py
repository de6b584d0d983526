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


#: the board's own theme variables (themes.toml may set them), with their fallbacks
VARIABLE_DEFAULTS = {
    "rx-cursor": "#2E4A66",  # the cursor bar's background
    "rx-cursor-text": "#FFFFFF",
    "rx-item": "#A9B1BD",  # a card's items line
    "rx-border": "#5A6270",  # an unfocused column's border
}


def register_themes(app: App[Any]) -> None:
    """rxfloor's themes are the only ones offered (the picker lists them alone): Textual's
    own know nothing of the board's variables and colours."""
    ours = load_themes()
    for theme in ours:
        app.register_theme(theme)
    for name in list(app.available_themes):
        if name not in {t.name for t in ours}:
            app.unregister_theme(name)
