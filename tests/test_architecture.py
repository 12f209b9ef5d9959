"""The layout holds: the layers contract of pyproject.toml, no import cycle, small modules, narrow folders.

Import cycles count every import the code makes, function-level and `TYPE_CHECKING` ones included
(a type-only import is still a dependency). `../shared/tools/arch_check.py .` prints the same figures.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import REPO

ROOTS = ("bot", "handlers", "integrations")
MAX_LINES = 400
MAX_MODULES_PER_FOLDER = 15


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # iterative, so that a long chain of imports cannot hit the recursion limit
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found, key=len, reverse=True)


def test_no_import_cycle_among_the_project_modules() -> None:
    graph = grimp.build_graph(*ROOTS, cache_dir=None)
    assert len(graph.modules) > 80  # the whole project was read
    assert import_cycles(graph) == []


def test_a_new_cycle_is_caught_even_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic import b\n")
    (package / "b.py").write_text("def later():\n    from cyclic import a\n    return a\n")
    (package / "c.py").write_text("from cyclic import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("cyclic", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    assert import_cycles(graph) == [["cyclic.a", "cyclic.b"]]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_contract_is_kept() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    for top in ROOTS:
        shutil.copytree(REPO / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    clock = tmp_path / "bot" / "core" / "clock.py"
    clock.write_text(
        clock.read_text() + "\n\ndef _upward():\n    from bot.review import verdicts\n\n    return verdicts\n"
    )
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    assert "BROKEN" in result.stdout and "bot.core.clock -> bot.review.verdicts" in result.stdout


def _modules() -> list[Path]:
    return [
        path
        for top in ROOTS
        for path in sorted((REPO / top).rglob("*.py"))
        if "migrations" not in path.relative_to(REPO).parts
    ]


def test_no_module_over_400_lines() -> None:
    over = {
        str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert over == {}


def test_no_folder_of_more_than_15_modules() -> None:
    widths: dict[str, int] = {}
    for path in _modules():
        if path.name != "__init__.py":
            folder = str(path.parent.relative_to(REPO))
            widths[folder] = widths.get(folder, 0) + 1
    assert {folder: n for folder, n in widths.items() if n > MAX_MODULES_PER_FOLDER} == {}
