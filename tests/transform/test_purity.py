"""The pure core (model/, transform/, and the Withings types they read) imports no framework and
does no I/O: its imports are checked against an allow-list, following every rookery module it
reaches, and importing it loads none of the service stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import rookery

SRC: Final = Path(rookery.__file__).resolve().parent
CORE_PACKAGES: Final = ("rookery.model", "rookery.transform")

# What the core may import. Standard-library modules that compute (no files, sockets,
# processes or clocks beyond zone data), the validation library of the model, and logging for
# the one line an unknown Withings code deserves.
ALLOWED_EXTERNAL: Final = frozenset(
    {
        "__future__",
        "bisect",
        "collections",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "functools",
        "hashlib",
        "itertools",
        "json",
        "logging",
        "math",
        "operator",
        "re",
        "sys",  # sys.intern only
        "typing",
        "typing_extensions",
        "zoneinfo",
        "pydantic",
        "pydantic_core",
    }
)
# The rookery modules the core may reach: itself and the Withings response types and codes.
ALLOWED_ROOKERY: Final = (
    "rookery.model",
    "rookery.transform",
    "rookery.withings.responses",
    "rookery.withings.codes",
    "rookery.withings.errors",
)
ROOKERY_PACKAGES: Final = ("rookery", "rookery.withings")  # their __init__ files hold no code
# The service stack: none of it may load with the core.
SERVICE_STACK: Final = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "httpx",
    "uvicorn",
    "typer",
    "asyncio",
    "sqlite3",
    "rookery.store",
    "rookery.withings.client",
)


def module_file(name: str) -> Path:
    path = SRC.joinpath(*name.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imported(name: str) -> Iterator[str]:
    """Every module `name`'s source imports (absolute names; the core uses no relative ones)."""
    tree = ast.parse(module_file(name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import"
            assert node.module is not None
            yield node.module
            # `from rookery.withings import codes` imports the submodule.
            for alias in node.names:
                if module_file(f"{node.module}.{alias.name}").exists():
                    yield f"{node.module}.{alias.name}"


def core_modules() -> list[str]:
    names = []
    for package in CORE_PACKAGES:
        folder = module_file(package).parent
        names += [f"{package}.{path.stem}" for path in sorted(folder.glob("*.py"))]
    return names


def reached_imports() -> dict[str, set[str]]:
    """Each rookery module the core reaches → the modules it imports."""
    seen: dict[str, set[str]] = {}
    todo = core_modules()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = set(imported(name))
        todo += [n for n in seen[name] if n.startswith("rookery.") and module_file(n).exists()]
    return seen


def allowed_rookery(name: str) -> bool:
    return name in ROOKERY_PACKAGES or any(
        name == ok or name.startswith(ok + ".") for ok in ALLOWED_ROOKERY
    )


def forbidden(reached: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(module, import) for every import outside the allow-lists."""
    return {
        (module, name)
        for module, names in reached.items()
        for name in names
        if not (name.split(".")[0] in ALLOWED_EXTERNAL or allowed_rookery(name))
    }


def test_the_core_imports_only_pure_modules() -> None:
    reached = reached_imports()
    assert {f"{p}.__init__" for p in CORE_PACKAGES} <= set(reached)
    bad = forbidden(reached)
    assert not bad, f"framework or I/O imports in the pure core: {sorted(bad)}"
    assert all(allowed_rookery(module) for module in reached)


def test_the_check_refuses_what_it_must() -> None:
    offender = {
        "rookery.transform.x": {"sqlalchemy.orm", "httpx", "json", "rookery.withings.client"},
        "rookery.model.y": {"rookery.store.documents", "pydantic", "os"},
    }
    assert forbidden(offender) == {
        ("rookery.transform.x", "sqlalchemy.orm"),
        ("rookery.transform.x", "httpx"),
        ("rookery.transform.x", "rookery.withings.client"),
        ("rookery.model.y", "rookery.store.documents"),
        ("rookery.model.y", "os"),
    }


def test_importing_the_core_loads_no_service_module() -> None:
    code = (
        "import sys\n"
        "import rookery.model.structures, rookery.transform, rookery.transform.dispatch\n"
        f"stack = {SERVICE_STACK!r}\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(stack))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == []
