"""House rules checked by the test command itself: lint, format, types, layering, packaging."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
    for name in ("core", "tui", "sandbox", "themes"):
        shutil.copytree(
            ROOT / name, src / "rxfloor" / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    (src / "rxfloor" / "__init__.py").write_text("")
    env = {**os.environ, "MYPYPATH": str(src)}
    result = _run(
        sys.executable, "-m", "mypy", str(src / "rxfloor"), "tests", "benchmarks",
        "docs/screenshot.py", env=env,
    )  # fmt: skip
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


_IMPORTED_AFTER = (  # run argv through main() in a fresh process, print the heavy packages
    "import json, sys\nfrom rxfloor.tui.cli.main import main\n"
    "try:\n    main(json.loads(sys.argv[1]))\nexcept SystemExit:\n    pass\n"
    "sys.__stderr__.write(json.dumps(sorted(sys.modules)))\n"
)
_HEAVY = {"sqlalchemy", "pydantic", "pydantic_settings", "alembic", "textual", "rich",
          "starlette", "uvicorn", "httpx"}  # fmt: skip


def _imports(*argv: str) -> set[str]:
    """Every module imported by ``rxfloor ARGV``, in a fresh process."""
    import json

    result = _run(sys.executable, "-c", _IMPORTED_AFTER, json.dumps(argv))
    return set(json.loads(result.stderr.splitlines()[-1]))


def _heavy_imports(*argv: str) -> set[str]:
    return {m.split(".")[0] for m in _imports(*argv)} & _HEAVY


def _stand_ins(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith(("rxfloor.sandbox", "rxfloor.core.sources.standin"))}


def test_only_sandbox_imports_the_stand_ins(sqlite_url: str) -> None:
    """The stand-ins' modules (their options for ``rxfloor sandbox``) are imported for that
    command alone: ``--help``, ``start --help`` and ``orders --json`` import none of them,
    and ``--help`` not even the source plugins or the entry-point scan behind them."""
    helped = _imports("--help")
    assert not _stand_ins(helped)
    assert not {"rxfloor.core.sources", "importlib.metadata"} & helped
    assert not _stand_ins(_imports("start", "--help"))
    assert not _stand_ins(_imports("orders", "--json", "--database", sqlite_url))
    assert "rxfloor.sandbox.rxscale.standin" in _stand_ins(_imports("sandbox", "--help"))


def test_cli_help_imports_no_database_or_settings() -> None:
    """``rxfloor --help`` (and building the parser) needs argparse, not SQLAlchemy or pydantic."""
    assert not _heavy_imports("--help") & {"sqlalchemy", "pydantic", "pydantic_settings"}
    assert not _heavy_imports("start", "--help") & {"sqlalchemy", "pydantic", "pydantic_settings"}


def test_cli_move_imports_no_ui_web_or_migrations(sqlite_url: str, capsys) -> None:
    """A move on a current database: nothing of Textual, Starlette, uvicorn or httpx, and no
    Alembic (the schema check is one version query)."""
    import json

    from rxfloor.tui.cli.main import main

    assert main(["seed", "--count", "5", "--database", sqlite_url]) == 0
    capsys.readouterr()
    assert main(["orders", "--status", "OPEN", "--json", "--database", sqlite_url]) == 0
    ref = json.loads(capsys.readouterr().out)[0]["id"]
    heavy = _heavy_imports("start", ref, "--database", sqlite_url)
    assert "sqlalchemy" in heavy  # the move did run
    assert not heavy & {"textual", "rich", "starlette", "uvicorn", "httpx", "alembic"}
    assert not _heavy_imports("orders", "--json", "--database", sqlite_url) & {
        "textual", "rich", "starlette", "uvicorn", "httpx", "alembic"
    }  # fmt: skip


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


def test_finding_the_plugins_imports_no_client() -> None:
    """Discovery, every plugin, its traits and its settings section are cheap: no httpx, no
    client, no stand-in (a source's factories import those when a source is opened)."""
    code = (
        "import sys\nfrom rxfloor.core import sources\nfrom rxfloor.core.config import Settings\n"
        "for p in sources.plugins():\n    p.traits.label; p.section()\n"
        "Settings(); sources.local_id(sources.default_source(), 'x')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'httpx'"
        " or m.endswith('.client') or m.startswith('rxfloor.sandbox'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layering_contracts_hold() -> None:
    """``[tool.importlinter]`` in pyproject.toml: core imports neither tui, Textual nor the
    sandbox; a move (lifecycle, service, db) no Textual, Starlette or httpx; the stand-ins no
    tui, and tui no stand-in (core and tui find them through the entry point group
    ``rxfloor.sandboxes``: the demo, ``rxfloor sandbox``). Imports inside functions count."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = _run(str(lint_imports), "--no-cache", "--no-logo")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layering_check_sees_imports(tmp_path: Path) -> None:
    """The check itself: each spelling of an import, at the top or inside a function, breaks a
    contract of the same shape as ours (a throwaway package, so ours are not touched)."""
    spellings = {
        "plain": "import probe.sandbox.photon",
        "from_package": "from probe.sandbox import kit",
        "in_function": "def f():\n    from probe.sandbox.rxscale.app import sign",
    }
    for folder in ("probe", "probe/core", "probe/sandbox", "probe/sandbox/rxscale"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    for module in ("photon", "kit", "rxscale/app"):
        (tmp_path / "probe" / "sandbox" / f"{module}.py").write_text("sign = 1\n")
    for name, code in spellings.items():
        (tmp_path / "probe" / "core" / f"{name}.py").write_text(code + "\n")
    (tmp_path / "contracts.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["probe"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "core never imports the sandbox"\ntype = "forbidden"\n'
        'source_modules = ["probe.core"]\nforbidden_modules = ["probe.sandbox"]\n'
    )
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", "contracts.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    for name in spellings:
        assert f"probe.core.{name} -> probe.sandbox" in result.stdout, (name, result.stdout)


#: history: a migration names what it migrated, for ever
_NAMES_EXEMPT = ("core/db/migrations/",)


def _source_names_in(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """Where code (identifiers, imported modules, strings other than docstrings) spells one
    of ``names``; comments and docstrings are prose, not code."""
    pattern = re.compile("|".join(sorted(names)), re.IGNORECASE)
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        words: list[str | None] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            words = [node.value]
        elif isinstance(node, ast.Name):
            words = [node.id]
        elif isinstance(node, ast.Attribute):
            words = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words = [node.name]
        elif isinstance(node, ast.alias):
            words = [node.name, node.asname]
        elif isinstance(node, ast.ImportFrom):
            words = [node.module]
        elif isinstance(node, ast.arg | ast.keyword):
            words = [node.arg]
        found += [(getattr(node, "lineno", 0), w) for w in words if w and pattern.search(w)]
    return found


def test_no_source_is_named_outside_its_own_package() -> None:
    """Sources are plugins (entry point group ``rxfloor.sources``): core/ and tui/ iterate
    over them and spell no source's name in code, except in the source's own package
    (``core/sources/<name>/``) and in migrations (history)."""
    from rxfloor.core import sources

    names = set(sources.names())
    assert names >= {p.name for p in (ROOT / "core" / "sources").iterdir() if p.is_dir()
                     and (p / "plugin.py").exists()}  # fmt: skip
    bad = []
    for top in ("core", "tui"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            parts = path.relative_to(ROOT).parts
            if rel.startswith(_NAMES_EXEMPT) or (
                parts[:2] == ("core", "sources") and len(parts) > 3 and parts[2] in names
            ):
                continue
            tree = ast.parse(path.read_text(), str(path))
            bad += [f"{rel}:{line}: {word!r}" for line, word in _source_names_in(tree, names)]
    assert not bad, "a source is named outside its package:\n" + "\n".join(bad)


def test_the_name_check_sees_code_and_skips_prose() -> None:
    names = {"shopify"}
    seen = {
        'if source == "shopify": pass': 1,
        "from rxfloor.core.sources.shopify import wire": 1,
        "import rxfloor.core.sources.shopify.wire as w": 1,
        "x = settings.sources.shopify": 1,
        "def shopify_url(): pass": 1,
        '"""About Shopify."""\n# shopify\nx = 1': 0,
        'def f():\n    """Shopify\'s."""\n    return 1': 0,
    }
    for code, count in seen.items():
        assert len(_source_names_in(ast.parse(code), names)) == count, code


@pytest.mark.slow
def test_wheel_installs_everything_under_the_product_name(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    src = tmp_path / "src"  # build from a copy so no build/ folder lands in the checkout
    for name in ("core", "tui", "sandbox", "themes"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):  # setup.py finds the packages
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
    # every plugin and stand-in an entry point names ships (found, not listed)
    targets = re.findall(r"^\w+ = (rxfloor\.[\w.]+):\w+$", entry, re.M)
    missing = [t for t in targets if t.replace(".", "/") + ".py" not in names]
    assert len(targets) > 2 and not missing, missing


# -- one writer per table ------------------------------------------------------------------------

#: Each protected table and the one room allowed to write it: a module, or a package (its
#: path ends in ``/``) whose modules are the parts of one writer (the service, split by job).
WRITERS = {
    "orders": "core/service/",
    "audit_events": "core/service/",
    "alerts": "core/service/",
    "outbox": "core/outbox.py",
    "people": "core/people.py",
    "people_events": "core/people.py",
    "product_scans": "core/service/",
}
_ORM = {"OrderRow": "orders", "AuditEventRow": "audit_events", "AlertRow": "alerts",
        "OutboxRow": "outbox"}  # fmt: skip
_WRITES = {"insert", "update", "delete"}
_DB = "rxfloor.core.db"
_RAW_WRITE = re.compile(
    r"\b(?:(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO|DELETE\s+FROM)\s+[\"'`]?(\w+)"
    r"|\bUPDATE(?:\s+OR\s+\w+)?\s+[\"'`]?(\w+)[\"'`]?\s+SET\b",
    re.IGNORECASE,
)


class _Writes(ast.NodeVisitor):
    """Finds writes to the protected tables in one module: ``insert/update/delete(t)`` of
    SQLAlchemy (or a dialect's), ``t.insert()``-style Table methods, ORM rows built, and
    raw SQL in string literals (docstrings aside). A table is known by where its name comes
    from (imported from rxfloor.core.db, a module alias of it, ``X.__table__``, an alias
    assigned in the module), so a local ``orders`` list or ``dict.update`` is never taken for
    one, and a read (``select``) is never a write."""

    def __init__(self) -> None:
        self.tables: dict[str, str] = {}  # local name -> table
        self.orm: dict[str, str] = {}  # local ORM class name -> table
        self.db_modules: set[str] = set()  # local names of rxfloor.core.db or its modules
        self.sa_modules: set[str] = set()  # local names of sqlalchemy (or a dialect) modules
        self.write_funcs: set[str] = set()  # local names of sqlalchemy's insert/update/delete
        self.docstrings: set[int] = set()
        self.found: list[tuple[int, str, str]] = []  # (line, table, what)

    # names
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith(_DB) and alias.asname:
                self.db_modules.add(alias.asname)
            if alias.name.split(".")[0] == "sqlalchemy":
                self.sa_modules.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            local = alias.asname or alias.name
            if module.startswith(_DB) or f"{module}.{alias.name}".startswith(_DB):
                if alias.name in WRITERS:
                    self.tables[local] = alias.name
                elif alias.name in _ORM:
                    self.orm[local] = _ORM[alias.name]
                elif f"{module}.{alias.name}".startswith(_DB):
                    self.db_modules.add(local)  # from rxfloor.core import db / db.store
            elif module.split(".")[0] == "sqlalchemy":
                if alias.name in _WRITES:
                    self.write_funcs.add(local)
                elif module.startswith("sqlalchemy.dialects") or alias.name == "dialects":
                    self.sa_modules.add(local)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for stmt in node.body:  # an ORM class defined here (the schema module)
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in stmt.targets)
                and isinstance(stmt.value, ast.Constant)
                and stmt.value.value in WRITERS
            ):
                self.orm[node.name] = stmt.value.value
        self._docstring(node)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        table = self.table_of(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name) and table is not None:
                self.tables[target.id] = table  # orders = OrderRow.__table__; t = orders
        self.generic_visit(node)

    def table_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.tables.get(node.id) or self.orm.get(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr == "__table__":
                return self.table_of(node.value)
            if isinstance(node.value, ast.Name) and node.value.id in self.db_modules:
                return node.attr if node.attr in WRITERS else _ORM.get(node.attr)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "Table"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in WRITERS
        ):
            return str(node.args[0].value)  # Table("orders", metadata, ...)
        return None

    # writes
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        is_write = (isinstance(func, ast.Name) and func.id in self.write_funcs) or (
            isinstance(func, ast.Attribute)
            and func.attr in _WRITES
            and isinstance(func.value, ast.Name)
            and func.value.id in self.sa_modules
        )
        target = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "table"), None
        )  # fmt: skip
        if is_write and target is not None and (table := self.table_of(target)):
            self.found.append((node.lineno, table, f"{ast.unparse(func)}({table})"))
        if (
            isinstance(func, ast.Attribute)
            and func.attr in _WRITES
            and (table := self.table_of(func.value))
        ):
            self.found.append((node.lineno, table, f"{table}.{func.attr}()"))
        if isinstance(func, ast.Name) and (table := self.orm.get(func.id)):
            self.found.append((node.lineno, table, f"{func.id}(...) built"))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and id(node) not in self.docstrings:
            for match in _RAW_WRITE.finditer(node.value):
                table = (match.group(1) or match.group(2)).lower()
                if table in WRITERS:
                    self.found.append((node.lineno, table, f"SQL {match.group(0)!r}"))

    def visit_Module(self, node: ast.Module) -> None:
        self._docstring(node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._docstring(node)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _docstring(
        self, node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            self.docstrings.add(id(first.value))


def table_writes(source: str) -> list[tuple[int, str, str]]:
    """Every write to a protected table in one module's source: (line, table, what)."""
    tree = ast.parse(source)
    finder = _Writes()
    for stmt in ast.walk(tree):  # names first, wherever they are bound (imports in functions)
        if isinstance(stmt, ast.Import):
            finder.visit_Import(stmt)
        elif isinstance(stmt, ast.ImportFrom):
            finder.visit_ImportFrom(stmt)
    finder.visit(tree)
    return sorted(set(finder.found))


def _writes_here(writer: str, rel: str) -> bool:
    """Whether the module ``rel`` is (part of) the ``writer`` of WRITERS."""
    return rel.startswith(writer) if writer.endswith("/") else rel == writer


def test_each_table_has_one_writer() -> None:
    """orders, audit_events, alerts are written only in core/service/, the outbox only in
    core/outbox.py (the rooms of docs/pages/development.md). Migrations are exempt: they
    reshape the schema once, before any writer runs."""
    wrong = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("core/db/migrations/"):
            continue
        for line, table, what in table_writes(path.read_text()):
            if not _writes_here(WRITERS[table], rel):
                wrong.append(f"{rel}:{line}: {what} (only {WRITERS[table]} writes {table})")
    assert not wrong, "\n".join(wrong)


def test_the_writer_check_sees_writes_and_only_writes() -> None:
    """The check itself: every spelling of a write is caught, no read or look-alike is."""
    caught = {
        "from sqlalchemy import update\nfrom rxfloor.core.db import orders\nupdate(orders)": 1,
        "from sqlalchemy import insert as ins\nfrom rxfloor.core.db import outbox as o\n"
        "ins(o).values()": 1,
        "import sqlalchemy as sa\nfrom rxfloor.core import db\nsa.delete(db.alerts)": 1,
        "from sqlalchemy.dialects import postgresql\nfrom rxfloor.core.db import outbox\n"
        "postgresql.insert(outbox)": 1,
        "from rxfloor.core.db import audit_events\naudit_events.insert()": 1,
        "from sqlalchemy import update\nfrom rxfloor.core.db import OrderRow\nupdate(OrderRow)": 1,
        "from sqlalchemy import update\nfrom rxfloor.core.db import orders\nt = orders\n"
        "update(t)": 1,
        "from sqlalchemy import update\nclass OrderRow:\n    __tablename__ = 'orders'\n"
        "orders = OrderRow.__table__\nupdate(orders)": 1,
        "from rxfloor.core.db import OutboxRow\nOutboxRow(order_id='x')": 1,
        "def f(conn):\n    from sqlalchemy import update\n    from rxfloor.core.db import orders"
        "\n    conn.execute(update(orders))": 1,
        "conn.exec_driver_sql('UPDATE orders SET status = 1')": 1,
        'text("insert into audit_events (id) values (1)")': 1,
        "q = f'DELETE FROM \"outbox\" WHERE id = {i}'": 1,
        "q = ('UPDATE alerts '\n     'SET acknowledged_at = 1')": 1,
    }
    clean = [
        "from sqlalchemy import select\nfrom rxfloor.core.db import orders\nselect(orders)",
        "from sqlalchemy import update\nfrom rxfloor.core.db import sync_state\nupdate(sync_state)",
        "orders = []\nknown = {}\nknown.update({})\norders.append(1)",
        "from sqlalchemy import update\norders = {}\nupdate(orders)",  # not the table
        "from rxfloor.core.db import orders\nx = orders.c.id == 1\norders.select()",
        'def f():\n    """UPDATE orders SET nothing: a docstring."""',
        "msg = 'could not update orders: busy'",
        "q = 'SELECT * FROM orders WHERE id IN (SELECT order_id FROM outbox)'",
        "widget.update('insert into the queue')",
    ]
    for source, n in caught.items():
        assert len(table_writes(source)) == n, source
    for source in clean:
        assert table_writes(source) == [], source
