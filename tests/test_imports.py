"""The library's modules import each other without cycles (function-level imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import nst

SRC = Path(nst.__file__).parent


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The nst modules `path` imports, anywhere in the file, resolved to module names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("nst"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("nst"):
                continue
            found.add(target)
            for a in node.names:  # `from . import losses` imports a module
                if (SRC.parent / (target.replace(".", "/") + "/" + a.name + ".py")).exists() or \
                        (SRC.parent / (target.replace(".", "/") + "/" + a.name)).is_dir():
                    found.add(f"{target}.{a.name}")
    return found - {name}


def graph() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in SRC.rglob("*.py")}
    return {m: {t for t in imports_of(p) if t in mods} for m, p in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    # A package's __init__ importing its own submodules is how packages work, not a cycle: ignore
    # edges from a package to its children, and from a module to its own parent package.
    def edges(m: str) -> set[str]:
        return {t for t in g[m] if not t.startswith(m + ".") and not m.startswith(t + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges(m)):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state:
                cycle = visit(t)
                if cycle:
                    return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state:
            cycle = visit(m)
            if cycle:
                return cycle
    return None


def test_no_import_cycles() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_inference_never_imports_training() -> None:
    g = graph()
    seen, todo = set(), ["nst.methods", "nst.api", "nst.engines", "nst.bank"]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(g.get(m, ()))
    assert not any(m == "nst.train" or m.startswith("nst.train.") for m in seen)


def test_library_never_imports_the_cli() -> None:
    g = graph()
    for m, targets in g.items():
        if not m.startswith("nst.cli"):
            assert not any(t.startswith("nst.cli") for t in targets), m


WEB_STACK = ("aiohttp", "multidict", "yarl", "playwright")


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of the modules `path` imports (anywhere in the file, function level too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_web_package_imports_the_web_stack() -> None:
    """The library (and the CLI, but for `nst serve`'s lazy import of nst.web) never imports the web extra."""
    for path in SRC.rglob("*.py"):
        name = module_name(path)
        if name == "nst.web" or name.startswith("nst.web."):
            continue
        assert not third_party_imports(path) & set(WEB_STACK), name
    g = graph()
    for m, targets in g.items():
        if not m.startswith(("nst.web", "nst.cli")):
            assert not any(t.startswith("nst.web") for t in targets), m  # the library never imports the page


def test_nst_web_limits_and_forms_need_no_web_stack() -> None:
    """`nst --help` lists `nst serve` (its flags come from nst.web.limits) without the web extra installed."""
    for mod in ("nst.web", "nst.web.limits", "nst.web.forms", "nst.web.jobs", "nst.web.work"):
        path = SRC.parent / (mod.replace(".", "/") + ".py")
        path = path if path.exists() else SRC.parent / mod.replace(".", "/") / "__init__.py"
        assert not third_party_imports(path) & set(WEB_STACK), mod


def test_importing_nst_and_its_cli_loads_no_web_stack() -> None:
    import subprocess
    import sys

    code = ("import sys, nst, nst.cli; nst.cli.build_parser(); import nst.web.forms, nst.web.jobs; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_STACK!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_only_the_ray_backend_imports_ray() -> None:
    """Ray is the optional nst[cluster] extra: one module imports it (lazily, when --ray asks for it)."""
    for path in SRC.rglob("*.py"):
        if module_name(path) != "nst.batch.ray_backend":
            assert "ray" not in third_party_imports(path), module_name(path)
    g = graph()
    for m, targets in g.items():
        if not m.startswith("nst.cli"):
            assert "nst.batch.ray_backend" not in targets, m  # only the CLI, when --ray is given


def test_importing_nst_and_its_cli_loads_no_ray() -> None:
    import subprocess
    import sys

    code = ("import sys, nst, nst.cli, nst.batch, nst.video.chunks; nst.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
