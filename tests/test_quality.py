"""House rules checked by the test command itself: lint, format, types, layering, packaging."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload, no-any-return]


def test_ruff_lint() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    """mypy sees the sources under their installed names (rxfloor.core, …) via a copy."""
    src = ROOT / ".mypy_cache" / "src"
    shutil.rmtree(src, ignore_errors=True)
    for name in ("core", "tui", "themes"):
        shutil.copytree(
            ROOT / name, src / "rxfloor" / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    (src / "rxfloor" / "__init__.py").write_text("")
    env = {**os.environ, "MYPYPATH": str(src)}
    result = _run(
        sys.executable, "-m", "mypy", str(src / "rxfloor"), "tests", "benchmarks", env=env
    )
    report = (result.stdout + result.stderr).replace(f"{src}/rxfloor/", "")
    assert result.returncode == 0, report


def test_core_never_imports_textual() -> None:
    code = (
        "import sys, pkgutil, importlib, rxfloor.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'rxfloor.core.'):\n"
        "    if '.migrations.versions' in m.name or m.name.endswith('migrations.env'): continue\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.'))\n"
        "print(len(bad)); sys.exit(1 if bad else 0)\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr


def test_headless_cli_does_not_import_textual() -> None:
    code = (
        "import sys\nfrom rxfloor.tui.cli.main import build_parser\nbuild_parser()\n"
        "sys.exit(1 if 'textual' in sys.modules else 0)\n"
    )
    assert _run(sys.executable, "-c", code).returncode == 0


def test_sync_engine_imports_no_concrete_source() -> None:
    """core/sync speaks the OrderSource protocol: it may import ``core.sources.base`` and the
    registry (``core.sources``), never a source's own package (``core.sources.rxscale``, …)."""

    def concrete(name: str) -> bool:
        parts = name.split(".")
        if parts[:3] != ["rxfloor", "core", "sources"] or len(parts) < 4 or parts[3] == "base":
            return False
        here = ROOT / "core" / "sources" / parts[3]
        return here.is_dir() or here.with_suffix(".py").exists()

    bad = []
    for path in sorted((ROOT / "core" / "sync").rglob("*.py")):
        package = "rxfloor.core." + ".".join(path.relative_to(ROOT / "core").parent.parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if concrete(n)]
    assert not bad, "core/sync imports a concrete source:\n" + "\n".join(bad)


@pytest.mark.slow
def test_wheel_installs_everything_under_the_product_name(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    src = tmp_path / "src"  # build from a copy so no build/ folder lands in the checkout
    for name in ("core", "tui", "themes"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    result = _run(uv, "build", "--wheel", "--out-dir", str(tmp_path), str(src))
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("rxfloor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if not n.startswith("rxfloor-")]
    assert code and all(n.startswith("rxfloor/") for n in code), code
    assert "rxfloor/core/db/migrations/versions/0001_initial.py" in names
    assert any(n.startswith("rxfloor/themes/") and not n.endswith(".py") for n in names) or (
        "rxfloor/themes/__init__.py" in names
    )
    entry = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith("entry_points.txt")))
        .decode()
    )
    assert "rxfloor = rxfloor.tui.cli.main:main" in entry
