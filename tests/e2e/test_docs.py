"""Issue 22 §6: the documentation is a site (``docs/mkdocs.yml``, pages in ``docs/pages/``) and
the README its short front door. The site builds with ``mkdocs build --strict`` — a link to a
missing page or anchor, or a page left out of the navigation, fails it —, every installed source
has its page with its fidelity table between markers, and the README's links lead somewhere.
What the pages name (variables, subcommands) is checked against the code in test_readme.py."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rxfloor.core.sources import names

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "mkdocs.yml"
PAGES = ROOT / "docs" / "pages"
README = ROOT / "README.md"
#: a Markdown link or image whose target is a path in the repository (not a URL, not an anchor)
LOCAL_LINK = re.compile(r"!?\[[^\]]*\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s#]+)(?:#[^)\s]*)?\)")


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # no banner about MkDocs 2
    )


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = build(CONFIG, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    for page in PAGES.rglob("*.md"):  # each page is in the site, where the navigation leads
        relative = page.relative_to(PAGES).with_suffix("")
        built = relative.parent if relative.name == "index" else relative
        assert (tmp_path / "site" / built / "index.html").exists(), page
    home = (tmp_path / "site" / "index.html").read_text()
    assert 'href="sources/rxscale/"' in home and 'href="cli/"' in home  # the navigation


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("[a page that is not there](nowhere.md)", "nowhere.md"),
        ("[an anchor that is not there](cli.md#no-such-heading)", "no-such-heading"),
    ],
)
def test_the_strict_build_sees_a_broken_link(tmp_path: Path, damage: str, named: str) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(PAGES, docs / "pages")
    shutil.copy(CONFIG, docs / "mkdocs.yml")
    index = docs / "pages" / "index.md"
    index.write_text(index.read_text() + f"\n{damage}\n")
    result = build(docs / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0 and named in result.stderr, result.stderr


def test_the_strict_build_sees_a_page_left_out_of_the_navigation(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(PAGES, docs / "pages")
    shutil.copy(CONFIG, docs / "mkdocs.yml")
    (docs / "pages" / "orphan.md").write_text("# Nobody links here\n")
    result = build(docs / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0 and "orphan.md" in result.stderr, result.stderr


@pytest.mark.parametrize("source", sorted(names()))
def test_every_source_has_its_page_and_fidelity_table(source: str) -> None:
    page = PAGES / "sources" / f"{source}.md"
    assert page.exists(), f"no page for the source {source!r}"
    assert f"sources/{source}.md" in CONFIG.read_text(), "the page is not in the navigation"
    text = page.read_text()
    start, end = f"<!-- fidelity:{source}:start -->", f"<!-- fidelity:{source}:end -->"
    assert text.count(start) == 1 and text.count(end) == 1, "one fidelity table, marked"
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert "documented / assumed / tolerated" in table
    assert "| Behaviour | Documented | The stand-in | The client accepts / does |" in table
    assert "/_sandbox/" in text, "the stand-in's control routes"


def test_the_readme_is_short_and_keeps_the_two_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 200, "the README is the front door: detail goes in docs/"
    assert "uv run rxfloor --demo" in text and "uv run pytest" in text
    assert 'uv run pytest -m "not slow"' in text
    assert "`.ci/run`" in text and "`uv run pytest`" in text
    assert "](docs/pages/images/board.svg)" in text  # the board's picture, not a text block


@pytest.mark.slow
def test_the_board_picture_is_made_from_the_demo(tmp_path: Path) -> None:
    """docs/screenshot.py runs the demo under Pilot and saves an SVG of the real board."""
    out = tmp_path / "board.svg"
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "screenshot.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    svg = out.read_text()
    shown = html.unescape("".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)))
    shown = shown.replace("\xa0", " ")
    assert svg.startswith("<svg") and "OPEN" in shown and "PROCESSING" in shown
    assert all(f"{name} online" in shown for name in names()), "every stand-in synced"
    assert (PAGES / "images" / "board.svg").read_text().startswith("<svg")


def test_every_local_link_leads_to_a_file() -> None:
    """README links are paths in the repository; the pages' are checked by the build."""
    targets = LOCAL_LINK.findall(README.read_text())
    assert "docs/pages/cli.md" in targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"the README links to what is not there: {missing}"
