"""Folders are layers and imports point down: kernel -> exchange -> tools -> research -> cycle ->
guardrails -> agents -> core -> web -> sweep -> localllm -> cli. Read from the source with `ast`,
lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "autotrader"
# Lowest first. The kernel is config, errors, schemas, clock and db (with the package's data).
# web (the dashboard) sits above core so the CLI can start it, yet needs only research and db;
# sweep calls core.boot and only the CLI calls it. localllm (the local LLM server) is a leaf
# just below cli: it drives the agent only through its command line, so it needs nothing above
# the kernel (tests/test_localllm.py checks that).
LAYERS = (
    "kernel", "exchange", "tools", "research", "cycle", "guardrails", "agents", "core", "web",
    "sweep", "localllm", "cli",
)  # fmt: skip
FOLDERS = {
    "exchange", "tools", "research", "guardrails", "agents", "core", "web", "sweep", "localllm",
}  # fmt: skip
MODULES = {"cycle": "cycle", "cli": "cli"}


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside autotrader."""
    parts = module.split(".")[1:]
    if not parts:
        return "kernel"
    if parts[0] in FOLDERS:
        return parts[0]
    return MODULES.get(parts[0], "kernel")


def module_name(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def internal_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of an autotrader module in the file."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("autotrader")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autotrader"):
            found.append((node.lineno, str(node.module)))
    return found


def upward_imports() -> list[str]:
    rank = {name: index for index, name in enumerate(LAYERS)}
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        for line, imported in internal_imports(path):
            if rank[layer_of(imported)] > rank[layer_of(importer)]:
                problems.append(
                    f"{path.relative_to(REPO_ROOT)}:{line}: {layer_of(importer)} imports "
                    f"{imported} ({layer_of(imported)})"
                )
    return problems


def test_every_import_in_the_package_points_down_the_layers() -> None:
    assert upward_imports() == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f() -> None:\n    from autotrader.core.boot import run_agent\n")
    assert internal_imports(probe) == [(2, "autotrader.core.boot")]
    assert layer_of("autotrader.core.boot") == "core"
    assert layer_of("autotrader.db.models") == "kernel"
    assert layer_of("autotrader.cycle") == "cycle"
    assert layer_of("autotrader") == "kernel"
