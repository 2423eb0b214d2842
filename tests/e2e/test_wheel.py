"""The wheel a user installs: it carries templates, schemas, data and py.typed, and its API is typed.

The wheel is built from a clean copy of the checkout (no stale build/ folder can leak
old modules into it), installed into a folder of its own, and a small client file is
type-checked against that installed copy, as a user's mypy would see it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow

IGNORED = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "outputs", "site", ".venv",
                                 ".pytest_cache", ".hypothesis")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=IGNORED)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(src)],
                          capture_output=True, text=True, cwd=tmp, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (built,) = tmp.glob("torchtune_config_writer-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return target


def test_wheel_carries_templates_schemas_data_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"ttgen/py.typed", "ttgen/templates/config.yaml.j2", "ttgen/templates/run_mapping.yaml.j2",
            "ttgen/templates/manifest.yaml.j2", "ttgen/templates/slurm_array.sh.j2",
            "ttgen/schemas/experiment.schema.json", "ttgen/schemas/output/ttgen.render.schema.json",
            "ttgen/aliases.yaml", "torchtune_config_writer/__main__.py", "ttgen/cli/__init__.py",
            "ttgen/plan/build.py", "ttgen/render/output.py"} <= names
    modules = {n for n in names if n.startswith("ttgen/") and n.endswith(".py")}
    in_checkout = {p.relative_to(REPO / "generator").as_posix() for p in (REPO / "generator" / "ttgen").rglob("*.py")}
    assert modules - {n for n in modules if n.startswith(("ttgen/templates/", "ttgen/schemas/"))} == in_checkout
    version = re.search(r"torchtune_config_writer-([^-]+)-", wheel.name)
    assert version is not None
    from ttgen import __version__

    assert version[1] == __version__, "the wheel's version comes from ttgen.__version__"


CLIENT = '''
from pathlib import Path

import ttgen
from ttgen import (CheckResult, DiffResult, Plan, Problem, RenderResult, RunLookupError, UserError,
                   ValidationReport, check_experiment, diff_runs, plan_experiment, render_experiment,
                   validate_configs)

plan = plan_experiment("experiment.yaml")
result = render_experiment("experiment.yaml", out="out")
diff = diff_runs(Path("out"), "run_001")
check = check_experiment("experiment.yaml", against=Path("out"))
report = validate_configs([])
reveal_type(plan)
reveal_type(result)
reveal_type(result.output_dir)
reveal_type(diff)
reveal_type(diff.differences)
reveal_type(check.ok)
reveal_type(report)
reveal_type(ttgen.render_experiment)
try:
    pass
except UserError as err:
    reveal_type(err.problems)
reveal_type(RunLookupError)
experiment = ttgen.Experiment.from_dict({"experiment": {"name": "x"}}, base_dir=".")
reveal_type(experiment)
reveal_type(experiment.plan()[0].config)
reveal_type(ttgen.render(experiment, out="out"))
folder = ttgen.open("out")
reveal_type(folder)
reveal_type(folder.runs[0].config)
reveal_type(folder.diff("run_001"))
reveal_type(folder.status().runs)
reveal_type(folder.results().runs[0].final("loss"))
reveal_type(ttgen.collect_results("out").to_dicts())
reveal_type(ttgen.write_report("out"))
'''


def test_a_users_mypy_sees_real_types(installed: Path, tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(CLIENT), encoding="utf-8")
    env = {"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null",
                           "--python-version", "3.11", "--strict", str(client)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    revealed = re.findall(r'Revealed type is "([^"]+)"', proc.stdout)
    assert len(revealed) == CLIENT.count("reveal_type("), proc.stdout + proc.stderr
    # Nothing is Any, except the values inside a config (a config is any YAML mapping: dict[str, Any]).
    assert not [t for t in revealed if "Any" in t.replace("dict[str, Any]", "")], proc.stdout
    assert "ttgen.plan.runs.Plan" in revealed[0] and "ttgen.render.output.RenderResult" in revealed[1]
    assert "list[ttgen.errors.Problem]" in revealed[8]
    assert revealed[10] == "ttgen.api.experiment.Experiment"
    assert revealed[12] == "ttgen.render.output.RenderResult"  # ttgen.render(...) is the API's function
    assert revealed[13] == "ttgen.api.folder.OutputFolder"
    assert revealed[17] == "float | None"
    # Only the reveal_type notes: the installed package is found and typed (py.typed), nothing is an error.
    assert "error:" not in proc.stdout, proc.stdout


def test_a_name_ttgen_does_not_export_is_a_type_error(installed: Path, tmp_path: Path) -> None:
    client = tmp_path / "typo.py"
    client.write_text("from ttgen import render_experimnet\n", encoding="utf-8")
    env = {"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null",
                           str(client)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 1 and 'Module "ttgen" has no attribute "render_experimnet"' in proc.stdout, proc.stdout
