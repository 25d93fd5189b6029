"""The code's shape, checked: small modules (about 400 lines at most) and no import cycle between modules,
deferred (function-level) imports included: a cycle hides which module owns what."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 410


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted([*(ROOT / "rqbench").rglob("*.py"), *(ROOT / "backends").glob("*.py")]):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = ["rqbench_backends", *rel.parts[1:]] if rel.parts[0] == "backends" else list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of this project that `path` imports anywhere (also inside functions: a deferred import is
    still a dependency), except under `if TYPE_CHECKING:` (annotations only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from pkg import submodule` depends on the submodule; `from mod import name` on the module
            subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known]
            names = subs if len(subs) == len(node.names) else [node.module, *subs]
        out |= {n for n in names if n in known}
    return out


def test_no_module_is_over_about_400_lines() -> None:
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycle_between_modules() -> None:
    known = modules()
    edges = {name: imports_of(path, known) - {name} for name, path in known.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        stack.append(name)
        for nxt in sorted(edges[name]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[name] = 2

    for name in known:
        if name not in state:
            visit(name, [])
    # a package importing its own submodules (re-exports) is not a cycle unless a submodule imports it back
    assert cycles == []


def test_every_package_is_listed_for_a_non_editable_install() -> None:
    """pyproject.toml lists the packages explicitly (backends/ installs as rqbench_backends): a package missing
    there works in the editable checkout and is absent from `pip install .`."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages - listed == set()
