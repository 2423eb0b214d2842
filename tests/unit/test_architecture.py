"""The package's shape holds: imports point one way, there are no cycles, start-up stays light.

Layers, top to bottom (docs/development/architecture.md). A module may import from its
own subpackage and from any layer below its own, never from a layer above; every
import counts, also one placed inside a function. ``ttgen/__init__.py`` (the public
API, which loads names lazily) and ``ttgen/__main__.py`` stand above them all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "generator" / "ttgen"

LAYERS: list[set[str]] = [
    {"cli"},
    {"api"},
    {"results"},
    {"jobs"},
    {"review"},
    {"render"},
    {"validate"},
    {"plan"},
    {"inputs"},
    {"text"},
    {"yamlio"},
    {"errors", "tree", "layout", "resources", "version"},  # the foundation: imports nothing of ttgen
]
FACADE = {"ttgen", "ttgen.__main__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The ttgen modules *name* imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "ttgen")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ttgen":
                continue
            for alias in node.names:  # `from . import output` names a module, `from .x import f` a name
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _layer(module: str) -> int:
    top = module.split(".")[1]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS (and the architecture page)")


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        if module not in FACADE:
            _layer(module)


def test_imports_point_down() -> None:
    foundation = len(LAYERS) - 1
    wrong = []
    for module, imported in _graph().items():
        if module in FACADE:
            continue
        here, package = _layer(module), module.split(".")[1]
        for target in imported:
            if target in FACADE:
                wrong.append(f"{module} -> {target}")
            elif here == foundation or (target.split(".")[1] != package and _layer(target) <= here):
                wrong.append(f"{module} -> {target}")
    assert wrong == [], "imports that point up or sideways: " + ", ".join(sorted(wrong))


def test_no_import_cycles() -> None:
    graph = {m: ts for m, ts in _graph().items() if m not in FACADE}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_layer_test_sees_imports() -> None:
    """The walk must find what it checks: a known upward edge would be caught."""
    graph = _graph()
    assert "ttgen.plan.runs" in graph["ttgen.render.config_text"]
    assert "ttgen.inputs.catalog" in graph["ttgen.cli.ls"]  # imported inside run(): still counted
    assert _layer("ttgen.cli.ls") < _layer("ttgen.inputs.catalog")


@pytest.mark.parametrize("argv", [["--help"], ["ls"], ["ls", "--json", "llama3_2"]])
def test_start_up_imports_no_heavy_library(argv: list[str]) -> None:
    """`ttgen --help` and `ttgen ls` stay fast: no Jinja, jsonschema, deepdiff, OmegaConf or torch."""
    code = f"""
import contextlib, io, sys
from ttgen.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
heavy = ("jinja2", "jsonschema", "deepdiff", "omegaconf", "torch", "torchtune", "matplotlib", "numpy", "pandas",
         "inspect_ai", "transformers")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_render_imports_no_plotting_or_training_library(tmp_path: Path) -> None:
    """A render (with its checks) never loads torch, matplotlib, numpy or pandas: those belong to
    training and to `ttgen report`."""
    example = REPO / "examples" / "lora_rank_sweep" / "experiment.yaml"
    code = f"""
import contextlib, io, sys
from ttgen.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["render", {str(example)!r}, "--out", {str(tmp_path / "out")!r}, "--quiet"])
heavy = ("torch", "torchtune", "matplotlib", "numpy", "pandas")
print(code, sorted({{m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 []"


def test_rendering_and_status_of_an_evaluated_sweep_import_no_eval_library(tmp_path: Path) -> None:
    """An evaluation: section is rendered, and its states read, without torch, inspect_ai or transformers
    (the eval extra is needed where evaluations run and where their scores are read, nowhere else)."""
    (tmp_path / "task.py").write_text("# an Inspect AI task file\n")
    (tmp_path / "experiment.yaml").write_text(
        "experiment: {name: e, framework: torchtune}\nframework_config: {base_config: llama3_2/1B_lora_single_device}"
        "\nvariables: {lora_rank: [4, 8]}\nslurm: {}\nevaluation: {tasks: [task.py], baseline: true}\n")
    code = f"""
import contextlib, io, sys
from ttgen.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    for argv in (["render", {str(tmp_path / "experiment.yaml")!r}, "--out", {str(tmp_path / "out")!r}],
                 ["status", {str(tmp_path / "out")!r}, "--json"]):
        try:
            main(argv)
        except SystemExit:
            pass
from ttgen.jobs.evaluation import read_scores
assert read_scores({str(tmp_path / "out")!r}) == []
heavy = ("torch", "torchtune", "inspect_ai", "transformers", "matplotlib")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "slurm" / "evaluate_array.sh").is_file(), done.stderr
    assert done.stdout.strip() == "[]"
