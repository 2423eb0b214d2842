"""Every ``ttgen <command> --json`` document against its JSON Schema (schemas/output/, docs/json.md).

Each command runs for real, in process, on real inputs (the examples, tests/cases/validate/,
folders edited by hand), and what it prints on stdout must be one JSON document that its
shipped schema (loaded through ``ttgen.resources.load_schema``, as a user of the wheel
would) accepts, with the schema's ``format`` and ``version``. Failures on bad input print the
envelope-only failure document, which the same schema accepts. Negative tests mutate real
documents to prove each schema is strict: extra keys, wrong types and inconsistent fields
are rejected.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from helpers import CASES, EXAMPLES, REPO, CliResult, run_cli, write
from ttgen.render.output import render_experiment
from ttgen.resources import load_schema

COMMANDS = ("render", "diff", "check", "validate", "ls", "status", "results")
SCHEMA_DIR = REPO / "schemas" / "output"
ENVELOPE = {"format", "version", "ok", "errors", "warnings"}
LORA = EXAMPLES / "lora_rank_sweep" / "experiment.yaml"
SWAP = EXAMPLES / "swap_logger_dataset" / "experiment.yaml"
SLURM = EXAMPLES / "slurm_sweep" / "experiment.yaml"
NO_TORCHTUNE = "torchtune cannot be imported (blocked by the test)"


def schema_names() -> list[str]:
    return sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json"))


@functools.cache
def registry() -> Registry:
    """Every shipped output schema under its $id, so that relative $refs between them resolve (nothing is fetched)."""
    resources = []
    for name in schema_names():
        schema = load_schema(f"output/{name}")
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def schema_of(command: str) -> dict[str, Any]:
    return load_schema(f"output/ttgen.{command}.schema.json")


def validator(command: str) -> Draft202012Validator:
    return Draft202012Validator(schema_of(command), registry=registry())


def schema_errors(command: str, doc: Any) -> list[str]:
    """Why *doc* does not fit the command's schema, deepest reasons first; [] when it fits."""
    found = list(validator(command).iter_errors(doc))
    if not found:
        return []
    best = best_match(found)
    return [f"{best.json_path}: {best.message}"] + [f"{e.json_path}: {e.message}" for e in found]


def assert_valid(command: str, doc: Any) -> None:
    problems = schema_errors(command, doc)
    assert not problems, "\n".join(problems[:10])


def assert_invalid(command: str, doc: Any, why: str = "") -> None:
    assert not validator(command).is_valid(doc), f"the {command} schema accepts {why}: {json.dumps(doc)[:500]}"


def document(command: str, *args: str | Path, code: int = 0, cwd: Path | None = None) -> dict[str, Any]:
    """Run ``ttgen COMMAND ARGS --json``, check its exit code, and return the document after validating it."""
    result: CliResult = run_cli(command, *args, "--json", cwd=cwd)
    assert result.code == code, result.out + result.err
    assert "Traceback" not in result.err, result.err
    doc = json.loads(result.out)  # the whole of stdout is the one document
    assert isinstance(doc, dict)
    assert_valid(command, doc)
    schema = schema_of(command)
    assert doc["format"] == schema["properties"]["format"]["const"] == f"ttgen.{command}"
    assert doc["version"] == schema["properties"]["version"]["const"]
    assert doc["ok"] is (code == 0)
    return doc


def assert_failure_document(doc: dict[str, Any]) -> None:
    """The envelope only: ok false, at least one error, none of the command's data."""
    assert set(doc) == ENVELOPE
    assert doc["ok"] is False and doc["errors"]
    assert all(p["severity"] == "error" for p in doc["errors"])


@pytest.fixture
def level1_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """render --validate without importing torch: level 2 is unavailable, as without torchtune (fast)."""
    monkeypatch.setattr("ttgen.validate.validator.import_torchtune", lambda: (None, NO_TORCHTUNE))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The LoRA and logger/dataset examples and a validation case, each rendered once (read-only)."""
    root = tmp_path_factory.mktemp("rendered")
    out = {}
    for name, exp in (("lora", LORA), ("swap", SWAP), ("wrong_type", CASES / "validate" / "wrong_type.yaml")):
        # The validation case sets values level 1 refuses at render: render it as an older ttgen did.
        folder = render_experiment(exp, out=root / name, check_values=name != "wrong_type").output_dir
        assert folder is not None
        out[name] = folder
    return out


# ---------------------------------------------------------------- the schemas themselves


def test_every_command_has_a_schema_and_nothing_else_is_shipped() -> None:
    assert schema_names() == sorted([f"ttgen.{c}.schema.json" for c in COMMANDS] + ["ttgen.common.schema.json"])


@pytest.mark.parametrize("name", schema_names())
def test_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load_schema(f"output/{name}")
    assert schema == json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))  # the shipped copy is this file
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://ttgen.invalid/schemas/output/{name}"
    assert schema.get("description")


@pytest.mark.parametrize("name", schema_names())
def test_every_ref_resolves(name: str) -> None:
    """Also the $refs of branches no real document reaches: a misspelt one would only fail there."""
    schema = load_schema(f"output/{name}")
    resolver = registry().resolver(base_uri=schema["$id"])
    refs = [node["$ref"] for _, node in _subschemas(schema) if "$ref" in node]
    assert refs or name == "ttgen.common.schema.json"
    for ref in refs:
        assert isinstance(resolver.lookup(ref).contents, dict), ref


@pytest.mark.parametrize("command", COMMANDS)
def test_schema_pins_format_and_version(command: str) -> None:
    from ttgen.cli.output import JSON_VERSIONS

    props = schema_of(command)["properties"]
    assert props["format"]["const"] == f"ttgen.{command}"
    assert props["version"]["const"] == JSON_VERSIONS[command]


def _subschemas(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    """Every schema object inside *node*, with its JSON pointer."""
    found = []
    if isinstance(node, dict):
        found.append((where, node))
        for key, value in node.items():
            if key in ("properties", "$defs", "dependentRequired"):
                for name, sub in value.items():
                    found.extend(_subschemas(sub, f"{where}/{key}/{name}"))
            elif key not in ("const", "enum", "required", "description"):
                found.extend(_subschemas(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_subschemas(value, f"{where}/{i}"))
    return found


@pytest.mark.parametrize("name", schema_names())
def test_every_field_is_described_and_fixed_objects_are_closed(name: str) -> None:
    """Descriptions document each field (directly or in the definition it references); objects whose keys
    are fixed admit no others. Conditions (if/then/else, anyOf) only refine fields described elsewhere."""
    schema = load_schema(f"output/{name}")
    undescribed = [f"{name}#/$defs/{key}" for key, sub in schema.get("$defs", {}).items() if "description" not in sub]
    open_objects = []
    for where, node in _subschemas(schema):
        if node.get("type") != "object":
            continue
        undescribed += [f"{where}/properties/{key}" for key, sub in node.get("properties", {}).items()
                        if "description" not in sub and "$ref" not in sub]
        if where != "#" and "properties" in node and node.get("additionalProperties") is not False:
            open_objects.append(where)
    assert undescribed == []
    assert open_objects == []


def test_documentation_examples_fit_the_schemas() -> None:
    """The example documents of docs/json.md, and its example problem, are valid."""
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", (REPO / "docs" / "json.md").read_text(), re.S)]
    documents = {doc["format"]: doc for doc in blocks if doc.get("format") in {f"ttgen.{c}" for c in COMMANDS}}
    assert sorted(documents) == sorted(f"ttgen.{c}" for c in COMMANDS)
    for fmt, doc in documents.items():
        assert_valid(fmt.removeprefix("ttgen."), doc)
    [problem] = [b for b in blocks if "severity" in b]
    failure = {"format": "ttgen.render", "version": 1, "ok": False, "errors": [problem], "warnings": []}
    assert_valid("render", failure)


# ---------------------------------------------------------------- render


def test_render(tmp_path: Path) -> None:
    doc = document("render", LORA, "--out", tmp_path / "o")
    assert doc["output_dir"] == str(tmp_path / "o") and doc["dry_run"] is False
    assert doc["run_count"] == len(doc["runs"]) == 4
    assert doc["sbatch"] is None and doc["validation"] is None
    assert doc["runs"][0]["variables"] == {"lora_rank": 8}


def test_render_dry_run() -> None:
    doc = document("render", LORA, "--dry-run")
    assert doc["output_dir"] is None and doc["dry_run"] is True and doc["run_count"] == 4


def test_render_dry_run_with_derived_values() -> None:
    doc = document("render", EXAMPLES / "sweep_design" / "experiment.yaml", "--dry-run")
    assert any(run["derived"] for run in doc["runs"])


@pytest.mark.usefixtures("level1_only")
def test_render_validate(tmp_path: Path) -> None:
    doc = document("render", LORA, "--out", tmp_path / "o", "--validate")
    report = doc["validation"]
    assert report["ok"] is True and report["level"] == 1 and report["level2_unavailable"] == NO_TORCHTUNE
    assert [c["file"] for c in report["configs"]] == [f"configs/run_00{i}.yaml" for i in range(4)]


@pytest.mark.usefixtures("level1_only")
def test_render_validate_failing(tmp_path: Path) -> None:
    from test_validate import base_with_a_defect

    doc = document("render", base_with_a_defect(tmp_path), "--out", tmp_path / "o", "--validate", code=1)
    assert doc["validation"]["ok"] is False
    assert doc["errors"] == doc["validation"]["errors"] and doc["errors"][0]["runs"] == ["run_000", "run_001"]


def test_render_invalid_experiment_prints_the_failure_document(tmp_path: Path) -> None:
    text = LORA.read_text(encoding="utf-8")
    assert "  learning_rate: 3e-4\n" in text
    bad = write(tmp_path / "experiment.yaml", text.replace("  learning_rate: 3e-4\n", "  learning_rte: 3e-4\n"))
    doc = document("render", bad, "--out", tmp_path / "o", code=1)
    assert_failure_document(doc)
    [problem] = doc["errors"]
    assert problem["path"] == "controls.learning_rte" and problem["file"] == str(bad) and problem["line"] > 0
    assert not (tmp_path / "o").exists()


def test_render_with_slurm_prints_the_sbatch_command(tmp_path: Path) -> None:
    doc = document("render", SLURM, "--out", tmp_path / "o")
    assert isinstance(doc["sbatch"], str) and doc["sbatch"].startswith("sbatch ")
    assert document("render", SLURM, "--dry-run")["sbatch"] is None


# ---------------------------------------------------------------- diff


@pytest.mark.parametrize("example", ["lora", "swap"])
def test_diff_run_against_base_and_two_runs(example: str, rendered: dict[str, Path]) -> None:
    folder = rendered[example]
    doc = document("diff", "run_001", "--dir", folder)
    assert doc["before"]["kind"] == "base" and doc["after"]["name"] == "run_001"
    assert doc["count"] == len(doc["differences"]) > 0
    two = document("diff", "0", "2", "--dir", folder)
    assert (two["before"]["name"], two["after"]["name"]) == ("run_000", "run_002")
    assert two["count"] == len(two["differences"]) > 0


def test_diff_kinds_of_change_and_warnings(tmp_path: Path, rendered: dict[str, Path]) -> None:
    """Removed (a delete:), added, changed and type_changed rows, origin unknown, and warnings, all in schema."""
    folder = shutil.copytree(rendered["lora"], tmp_path / "o")
    config = folder / "configs" / "run_001.yaml"
    text = config.read_text(encoding="utf-8")
    assert "epochs: 3  # control" in text and "lora_alpha: 128\n" in text
    text = text.replace("epochs: 3  # control", "epochs: 3.0").replace("lora_alpha: 128\n", "lora_alpha: 64\n")
    config.write_text(text, encoding="utf-8")
    with (folder / "base_config.yaml").open("a", encoding="utf-8") as f:
        f.write("edited_after_render: true\n")
    doc = document("diff", "1", "--dir", folder)
    changes = {d["change"] for d in doc["differences"]}
    assert changes == {"changed", "type_changed", "added", "removed"}, changes
    rows = {d["path"]: d for d in doc["differences"]}
    assert (rows["epochs"]["change"], rows["epochs"]["before_type"], rows["epochs"]["after_type"]) == \
        ("type_changed", "integer", "float")
    assert rows["model.lora_alpha"]["origin"] == {"kind": "unknown", "key": None}  # edited by hand
    assert rows["epochs"]["origin"] == {"kind": "unknown", "key": None}  # 3.0 is not what experiment.yaml gives
    assert rows["edited_after_render"]["change"] == "removed" and "after" not in rows["edited_after_render"]
    assert rows["profiler.enabled"]["origin"] == {"kind": "delete", "key": "profiler"}
    assert rows["output_dir"]["origin"] == {"kind": "auto", "key": "run output folder"}
    assert len(doc["warnings"]) == 2  # the edited base config, and the hand-edited run


def test_diff_unknown_run_prints_the_failure_document(rendered: dict[str, Path]) -> None:
    doc = document("diff", "run_099", "--dir", rendered["lora"], code=1)
    assert_failure_document(doc)
    assert "run_099" in doc["errors"][0]["message"]


# ---------------------------------------------------------------- check


@pytest.mark.usefixtures("level1_only")
def test_check_ok(tmp_path: Path) -> None:
    assert run_cli("render", LORA, "--out", tmp_path / "o", "--validate").code == 0
    doc = document("check", LORA, "--against", tmp_path / "o")
    assert doc["compared"] > 0 and doc["changed"] == doc["missing"] == doc["extra"] == []
    assert doc["ignored"] == ["validation_report.txt"]


def test_check_failing_after_edits(tmp_path: Path) -> None:
    folder = tmp_path / "o"  # rendered in place: a copy elsewhere differs in every run's output_dir
    assert run_cli("render", LORA, "--out", folder).code == 0
    config = folder / "configs" / "run_001.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("lora_rank: 16", "lora_rank: 17"), encoding="utf-8")
    (folder / "configs" / "run_003.yaml").unlink()
    write(folder / "notes.txt", "mine\n")
    doc = document("check", LORA, "--against", folder, code=1)
    assert [c["file"] for c in doc["changed"]] == ["configs/run_001.yaml"]
    assert doc["missing"] == ["configs/run_003.yaml"] and doc["extra"] == ["notes.txt"]
    [error] = doc["errors"]  # a failed check says why, for a script that reads only errors
    assert "1 changed, 1 missing, 1 extra" in error["message"] and error["file"] == str(folder)


def test_check_missing_folder_prints_the_failure_document(tmp_path: Path) -> None:
    assert_failure_document(document("check", LORA, "--against", tmp_path / "nope", code=1))


# ---------------------------------------------------------------- validate


def test_validate_level1_passing(rendered: dict[str, Path]) -> None:
    doc = document("validate", "--level", "1", rendered["lora"], rendered["swap"])
    assert doc["level"] == 1 and doc["torchtune_version"] is None and doc["components"] == []
    assert len(doc["configs"]) == 7 and all(c["ok"] for c in doc["configs"])


def test_validate_level1_failing(rendered: dict[str, Path]) -> None:
    doc = document("validate", "--level", "1", rendered["wrong_type"], code=1)
    [problem] = doc["errors"]
    assert (problem["run_id"], problem["level"], problem["path"]) == ("run_001", 1, "gradient_accumulation_steps")


def test_validate_errors_and_warnings_of_hand_edited_configs(tmp_path: Path, rendered: dict[str, Path]) -> None:
    """As tests/e2e/test_validate.py makes a failing folder: copies of a config, each with one defect."""
    text = (rendered["lora"] / "configs" / "run_000.yaml").read_text(encoding="utf-8")
    edits = {
        "run_000": ("epochs: 3  # control", 'epochs: "3"'),
        "run_001": ("batch_size: 4", "batch_size: [4"),  # invalid YAML
        "run_002": ("log_dir: ${output_dir}/logs", "log_dir: ${oc.env:TTGEN_TEST_SURELY_UNSET}/logs"),  # a warning
    }
    for name, (old, new) in edits.items():
        assert old in text, old
        write(tmp_path / "configs" / f"{name}.yaml", text.replace(old, new, 1))
    doc = document("validate", "--level", "1", tmp_path / "configs", code=1)
    assert [p["run_id"] for p in doc["errors"]] == ["run_000", "run_001"]
    assert [p["run_id"] for p in doc["warnings"]] == ["run_002"]
    assert [c["ok"] for c in doc["configs"]] == [False, False, True]


def test_validate_missing_path_prints_the_failure_document(tmp_path: Path) -> None:
    doc = document("validate", "--level", "1", tmp_path / "nope", code=1)
    assert_failure_document(doc)
    assert doc["errors"][0]["run_id"] is None


@pytest.mark.needs_torch
def test_validate_and_render_validate_at_level2(tmp_path: Path, rendered: dict[str, Path]) -> None:
    """With the real torchtune: a torchtune version, the components, level 2 findings."""
    doc = document("validate", "--level", "2", rendered["lora"])
    assert doc["level"] == 2 and doc["torchtune_version"] and doc["components"]
    bad = document("render", CASES / "validate" / "wrong_component.yaml", "--out", tmp_path / "o", "--validate",
                   code=1)
    assert bad["validation"]["level"] == 2 and [p["level"] for p in bad["errors"]] == [2]


# ---------------------------------------------------------------- ls


def test_ls_everything() -> None:
    doc = document("ls")
    assert doc["pattern"] is None and len(doc["configs"]) > 100 and doc["torchtune_version"] == "0.6.1"


@pytest.mark.parametrize("pattern", ["1B_lora", "llama3_2/*_lora_*"])
def test_ls_pattern(pattern: str) -> None:
    doc = document("ls", pattern)
    assert doc["pattern"] == pattern
    assert "llama3_2/1B_lora_single_device" in [c["config"] for c in doc["configs"]]


def test_ls_nothing_matches() -> None:
    doc = document("ls", "surely_no_such_config", code=1)
    assert doc["configs"] == [] and doc["ok"] is False
    assert doc["errors"][0]["message"] == "no shipped config matches 'surely_no_such_config'"


def test_ls_without_torchtune_prints_the_failure_document(monkeypatch: pytest.MonkeyPatch) -> None:
    from ttgen.inputs import catalog

    monkeypatch.setattr(catalog, "_torchtune_dir", lambda: None)
    monkeypatch.setattr(catalog, "load_catalog", catalog.load_catalog.__wrapped__)  # not the cached catalog
    assert_failure_document(document("ls", code=1))


# ---------------------------------------------------------------- the schemas are strict


@pytest.fixture(scope="module")
def samples(rendered: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One real document of each command that ran, and one failure document (all valid)."""
    tmp = tmp_path_factory.mktemp("samples")
    runs: dict[str, tuple[tuple[str | Path, ...], int]] = {
        "render": (("render", LORA, "--dry-run"), 0),
        "diff": (("diff", "1", "--dir", rendered["lora"]), 0),
        "check": (("check", LORA, "--against", rendered["lora"]), 0),
        "validate": (("validate", "--level", "1", rendered["wrong_type"]), 1),
        "ls": (("ls", "1B_lora"), 0),
        "status": (("status", rendered["lora"]), 0),
        "failure": (("render", tmp / "no_such_experiment.yaml"), 1),
    }
    out = {}
    for name, (args, code) in runs.items():
        result = run_cli(*args, "--json")
        assert result.code == code, result.err
        out[name] = json.loads(result.out)
    # results of a sweep whose runs trained (tests/data/results_sweep), grouped so every part is there
    for part in ("folder", "train"):
        shutil.copytree(REPO / "tests" / "data" / "results_sweep" / part, tmp / part)
    result = run_cli("results", "folder", "--by", "lora_rank", "--json", cwd=tmp)
    assert result.code == 0, result.err
    out["results"] = json.loads(result.out)
    return out


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """Set a value inside a document: ``runs.0.run_count`` style paths (list indices as numbers)."""
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def _delete(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]
    return mutate


def _first(list_key: str, pick: Callable[[dict[str, Any]], bool], mutation: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        mutation(next(item for item in doc[list_key] if pick(item)))
    return mutate


A_PROBLEM = {"severity": "error", "file": "x.yaml", "line": 1, "column": 2, "path": "a.b", "message": "bad",
             "hint": None, "run_id": None, "level": None}
A_WARNING = {**A_PROBLEM, "severity": "warning"}

# Per command: (what is wrong, the mutation) applied to that command's real document.
STRICTNESS: dict[str, list[tuple[str, Mutation]]] = {
    "render": [
        ("format of another command", _set("format", "ttgen.diff")),
        ("wrong version", _set("version", 2)),
        ("run_count as text", _set("run_count", "4")),
        ("missing runs", _delete("runs")),
        ("extra key in a run", _set("runs.0.extra", 1)),
        ("run id not run_NNN", _set("runs.0.run_id", "first")),
        ("output_dir_auto as text", _set("runs.0.output_dir_auto", "yes")),
        ("dry run with an output folder", _set("output_dir", "/tmp/x")),
        ("ok false without validation", _set("ok", False)),
        ("an error without validation", _set("errors", [A_PROBLEM])),
        ("sbatch not a command", _set("sbatch", "bash x.sh")),
        ("validation of the wrong shape", _set("validation", {"ok": True})),
    ],
    "diff": [
        ("ok false", _set("ok", False)),
        ("count as text", _set("count", "3")),
        ("after is the base", _set("after", {"kind": "base", "name": "base", "file": "base_config.yaml",
                                              "variables": None})),
        ("extra key in a side", _set("before.extra", 1)),
        ("unknown change", _set("differences.0.change", "edited")),
        ("before_type not a YAML type", _set("differences.0.before_type", "int")),
        ("value without its type", _delete("differences.0.after_type")),
        ("extra key in a difference", _set("differences.0.extra", 1)),
        ("added row with a before value",
         _first("differences", lambda d: d["change"] == "added", lambda d: d.update(before=1, before_type="integer"))),
        ("removed row with an after value",
         _first("differences", lambda d: d["change"] == "removed", lambda d: d.update(after=1, after_type="integer"))),
        ("changed row without after",
         _first("differences", lambda d: d["change"] == "changed", lambda d: [d.pop("after"), d.pop("after_type")])),
        ("unknown origin kind", _set("differences.0.origin", {"kind": "magic", "key": None})),
        ("origin without key", _set("differences.0.origin", {"kind": "control"})),
    ],
    "check": [
        ("compared as text", _set("compared", "8")),
        ("ok with a changed file", _set("changed", [{"file": "configs/run_000.yaml", "diff": "--- a\n+++ b\n"}])),
        ("failed with nothing different", _set("ok", False)),
        ("changed file without its diff", lambda d: d.update(ok=False, changed=[{"file": "f"}])),
        ("missing as text", _set("missing", "configs/run_003.yaml")),
        ("missing ignored", _delete("ignored")),
    ],
    "validate": [
        ("level 3", _set("level", 3)),
        ("ok with errors", _set("ok", True)),
        ("a torchtune version at level 1", _set("torchtune_version", "0.6.1")),
        ("components at level 1", _set("components", ["torch.optim.AdamW"])),
        ("extra key in a config", _set("configs.0.extra", 1)),
        ("no configs", _set("configs", [])),
        ("an error without its run", _set("errors.0.run_id", None)),
        ("an error without its level", _set("errors.0.level", None)),
        ("a warning among the errors", _set("errors.0.severity", "warning")),
        ("an unknown data key", _set("report", {})),
    ],
    "results": [
        ("unknown state", _set("runs.0.state", "DONE")),
        ("steps as text", _set("runs.0.steps", "6")),
        ("metric without its final value", _delete("runs.0.metrics.loss.final")),
        ("extra key in a metric", _set("runs.0.metrics.loss.extra", 1)),
        ("count zero", _set("runs.0.metrics.loss.count", 0)),
        ("groups without by", _delete("by")),
        ("extra key in a group", _set("groups.0.extra", 1)),
        ("std as text", _set("groups.0.stats.loss.std", "0.1")),
        ("question as a number", _set("design.question", 3)),
        ("checkpoints as text", _set("runs.0.checkpoints", "epoch_0")),
    ],
    "ls": [
        ("pattern as a number", _set("pattern", 5)),
        ("ok with nothing listed", _set("configs", [])),
        ("file_exists as text", _set("configs.0.file_exists", "yes")),
        ("extra key in a config", _set("configs.0.extra", 1)),
        ("a warning among the errors", _set("errors", [A_WARNING])),
        ("an error among the warnings", _set("warnings", [A_PROBLEM])),
    ],
}

# Problems are the same record in every document.
PROBLEM_STRICTNESS: list[tuple[str, Mutation]] = [
    ("extra key", lambda p: p.update(extra=1)),
    ("missing hint", lambda p: p.pop("hint")),
    ("line without column", lambda p: p.update(line=3, column=None)),
    ("column without line", lambda p: p.update(line=None, column=3)),
    ("line 0", lambda p: p.update(line=0)),
    ("line as text", lambda p: p.update(line="3")),
    ("level without run_id", lambda p: p.update(run_id=None, level=1)),
    ("empty message", lambda p: p.update(message="")),
    ("unknown severity", lambda p: p.update(severity="fatal")),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_samples_are_valid(command: str, samples: dict[str, dict[str, Any]]) -> None:
    assert_valid(command, samples[command])
    failure = dict(samples["failure"], format=f"ttgen.{command}", version=schema_of(command)["properties"]["version"]["const"])
    assert_valid(command, failure)


@pytest.mark.parametrize("command", COMMANDS)
def test_extra_top_level_key_is_rejected(command: str, samples: dict[str, dict[str, Any]]) -> None:
    assert_invalid(command, {**samples[command], "surprise": True})
    assert_invalid(command, {k: v for k, v in samples[command].items() if k != "warnings"})
    assert_invalid(command, [samples[command]])


@pytest.mark.parametrize("command", COMMANDS)
def test_failure_document_is_strict(command: str, samples: dict[str, dict[str, Any]]) -> None:
    good = dict(samples["failure"], format=f"ttgen.{command}", version=schema_of(command)["properties"]["version"]["const"])
    success = samples[command]
    data_key = next(k for k in success if k not in ENVELOPE)
    assert_invalid(command, {**good, data_key: success[data_key]})  # a failure carries none of the data
    assert_invalid(command, {**good, "errors": []})  # a failure says why
    assert_invalid(command, {**good, "ok": True})
    assert_invalid(command, {**good, "format": "ttgen.other"})
    assert_invalid(command, {**good, "version": good["version"] + 1})
    for what, mutation in PROBLEM_STRICTNESS:
        doc = copy.deepcopy(good)
        mutation(doc["errors"][0])
        assert_invalid(command, doc, what)


@pytest.mark.parametrize(("command", "what", "mutation"),
                         [(c, what, m) for c, cases in STRICTNESS.items() for what, m in cases],
                         ids=[f"{c}-{what}" for c, cases in STRICTNESS.items() for what, _ in cases])
def test_wrong_documents_are_rejected(command: str, what: str, mutation: Mutation,
                                      samples: dict[str, dict[str, Any]]) -> None:
    doc = copy.deepcopy(samples[command])
    mutation(doc)
    assert doc != samples[command]
    assert_invalid(command, doc, what)


def test_render_validation_report_is_strict(samples: dict[str, dict[str, Any]]) -> None:
    """render's validation is the full report (validate's data plus ok, errors, warnings)."""
    report = {key: value for key, value in samples["validate"].items() if key not in ("format", "version")}
    doc = dict(samples["render"], dry_run=False, output_dir="/tmp/o", validation=report, ok=False,
               errors=report["errors"])
    assert_valid("render", doc)
    for mutation in (lambda r: r.pop("summary"), lambda r: r.update(extra=1), lambda r: r.update(ok=True),
                     lambda r: r.update(level="1")):
        broken = copy.deepcopy(doc)
        mutation(broken["validation"])
        assert_invalid("render", broken)
    assert_invalid("render", dict(doc, ok=True, errors=[]))  # ok is the validation's verdict


def test_status_of_a_rendered_sweep(tmp_path: Path) -> None:
    exp = write(tmp_path / "experiment.yaml", "experiment: {name: s, framework: torchtune}\nframework_config: "
                "{base_config: llama3_2/1B_lora_single_device}\nvariables: {lora_rank: [4, 8]}\nslurm: {}\n")
    assert run_cli("render", exp, "--out", tmp_path / "out").code == 0
    (tmp_path / "out/slurm/state/run_000@5_0.started").write_text("time=1 host=h job=5_0\n")
    (tmp_path / "out/slurm/state/run_000@5_0.ended").write_text("time=9 exit=0\n")
    done = run_cli("status", tmp_path / "out", "--json")
    assert done.code == 0, done.err
    doc = json.loads(done.out)
    assert_valid("status", doc)
    assert [r["state"] for r in doc["runs"]] == ["COMPLETED", "NOT_SUBMITTED"]


def test_status_of_an_evaluated_sweep(tmp_path: Path) -> None:
    """With an evaluation: section: each run's evaluation state, the baseline's, and their counts."""
    write(tmp_path / "task.py", "# an Inspect AI task file\n")
    exp = write(tmp_path / "experiment.yaml", "experiment: {name: s, framework: torchtune}\nframework_config: "
                "{base_config: llama3_2/1B_lora_single_device}\nvariables: {lora_rank: [4, 8]}\nslurm: {}\n"
                "evaluation: {tasks: [task.py], baseline: true}\n")
    assert run_cli("render", exp, "--out", tmp_path / "out").code == 0
    state = tmp_path / "out/slurm/state"
    (state / "run_000@5_0.started").write_text("time=1 host=h job=5_0\n")
    (state / "run_000@5_0.ended").write_text("time=9 exit=0\n")
    (state / "eval_run_000@6_0.started").write_text("time=10 host=h job=6_0\n")
    (state / "eval_run_000@6_0.ended").write_text("time=19 exit=0\n")
    record = {"version": 1, "job": "6", "kind": "evaluate", "time": "t", "command": ["sbatch"], "array": "0",
              "runs": {"run_000": "6_0"}, "log_pattern": "slurm/logs/eval_run_%3a-%A.out", "after": "5"}
    (state / "submissions.jsonl").write_text(json.dumps(record) + "\n")
    done = run_cli("status", tmp_path / "out", "--json")
    assert done.code == 0, done.err
    doc = json.loads(done.out)
    assert_valid("status", doc)
    assert doc["evaluates"] is True and doc["baseline"]["state"] == "NOT_SUBMITTED"
    assert [r["evaluation"]["state"] for r in doc["runs"]] == ["COMPLETED", "NOT_SUBMITTED"]
    assert doc["runs"][0]["evaluation"]["elapsed_seconds"] == 9 and doc["runs"][0]["evaluation"]["job"] == "6_0"
    assert doc["eval_counts"] == {"NOT_SUBMITTED": 2, "COMPLETED": 1}
    broken = copy.deepcopy(doc)
    broken["runs"][0]["evaluation"]["state"] = "DONE"
    assert_invalid("status", broken)
    text = run_cli("status", tmp_path / "out").out
    assert "EVAL" in text.splitlines()[0] and "evaluations: 2 NOT_SUBMITTED, 1 COMPLETED" in text


def test_status_without_an_output_folder_prints_the_failure_document(tmp_path: Path) -> None:
    done = run_cli("status", tmp_path / "nowhere", "--json")
    assert done.code == 1
    assert_valid("status", json.loads(done.out))
