"""ttgen.schema_check must give jsonschema's answer whenever it gives one.

It lets a render skip importing jsonschema for a valid experiment, so a wrong
"valid" would let a malformed experiment through unexplained. Its answers are
compared with jsonschema's Draft 2020-12 validator on every experiment file in
the repository (examples and the error corpora) and on documents Hypothesis
derives from a valid one by replacing, adding and removing values anywhere,
with the values that trip schema checkers up: 2.0 where an integer is wanted,
booleans, NaN, empty strings and lists, non-string keys, nested mappings.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, REPO, run_cli
from ttgen.errors import UserError
from ttgen.load import read_yaml_file
from ttgen.resources import load_schema
from ttgen.schema_check import is_valid

SCHEMA = load_schema()
JUDGE = jsonschema.Draft202012Validator(SCHEMA)

# One document that uses every section of the schema.
FULL: dict[str, Any] = {
    "experiment": {"name": "full", "framework": "torchtune", "question": "q", "hypothesis": "h",
                   "researcher": "r", "date": "2026-11-25", "tags": ["a", "b"], "description": "d"},
    "framework_config": {"base_config": "llama3_2/1B_lora_single_device", "recipe": "lora_finetune_single_device"},
    "variables": {"lora_rank": [8, 16], "optimizer": {"lr": [1e-4, 2e-4]}, "seed": [1, 2]},
    "controls": {"epochs": 1, "dataset": {"packed": False}},
    "delete": ["profiler"],
    "sweep": {"max_runs": 100, "zip": [["lora_rank", "seed"]], "exclude": [{"lora_rank": 8}]},
    "output": {"base_dir": "outputs"},
    "slurm": {"job_name": "j", "partition": "gpu", "account": "a", "qos": "q", "time": "02:00:00", "nodes": 1,
              "gpus_per_node": 1, "cpus_per_task": 4, "mem": "64G", "constraint": "a100", "max_parallel": 2,
              "mail_user": "me@example.org", "mail_type": "END", "setup": ["module load cuda"],
              "extra_directives": ["--exclusive"], "template": "t.sh.j2"},
}


def judge(doc: Any) -> bool:
    return JUDGE.is_valid(doc)


def read(path: Path) -> Any:
    return read_yaml_file(path, display=str(path), what="experiment file", not_found_hint="").data


def repository_documents() -> list[Path]:
    """Experiment files of the examples and the error corpora that ttgen can read as YAML.

    The others (bad YAML, binary, too large, ...) never reach the schema check.
    """
    files = sorted(EXAMPLES.glob("*/experiment.yaml")) + sorted((REPO / "tests" / "cases").rglob("*.yaml"))
    readable = []
    for f in files:
        if "bases" in f.parts:
            continue
        try:
            read(f)
        except UserError:
            continue
        readable.append(f)
    return readable


@pytest.mark.parametrize("path", repository_documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_same_answer_on_every_repository_file(path: Path) -> None:
    data = read(path)
    answer = is_valid(data, SCHEMA)
    if answer is not None:
        assert answer == judge(data)


def test_repository_files_are_mostly_decided() -> None:
    """The comparison above proves little if the checker is unsure about most of the corpus."""
    answers = [is_valid(read(f), SCHEMA) for f in repository_documents()]
    assert answers.count(None) <= 5 and answers.count(False) >= 20, answers


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/experiment.yaml")), ids=lambda p: p.parent.name)
def test_every_example_is_decided_without_jsonschema(path: Path) -> None:
    """The fast path must cover the shipped schema: a keyword it cannot decide would silently cost 50 ms."""
    assert is_valid(read(path), SCHEMA) is True


def test_full_document_is_valid_and_decided() -> None:
    assert judge(FULL)
    assert is_valid(FULL, SCHEMA) is True


def test_render_of_a_valid_experiment_does_not_import_jsonschema(tmp_path: Path) -> None:
    code = ("import sys; from ttgen.cli import main; "
            f"rc = main(['render', {str(EXAMPLES / 'lora_rank_sweep' / 'experiment.yaml')!r}, "
            f"'--out', {str(tmp_path / 'out')!r}]); "
            "assert rc == 0; print('jsonschema' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_invalid_experiment_still_gets_jsonschemas_explanation(tmp_path: Path) -> None:
    exp = tmp_path / "experiment.yaml"
    exp.write_text("experiment: {name: x, framework: torchtune}\n"
                   "framework_config: {base_config: llama3_2/1B_lora_single_device}\n"
                   "sweep: {max_runs: 2.5}\n")
    result = run_cli("render", exp, "--dry-run")
    assert result.code == 1
    assert ":3:" in result.err and "sweep.max_runs" in result.err and "a whole number" in result.err


@pytest.mark.parametrize("value, expected", [
    (2, True), (2.0, None), (2.5, False), (True, False), (0, False), (float("nan"), None), ("2", False),
])
def test_integer_edge_cases(value: Any, expected: bool | None) -> None:
    doc = copy.deepcopy(FULL)
    doc["sweep"]["max_runs"] = value
    assert is_valid(doc, SCHEMA) is expected
    if expected is not None:
        assert judge(doc) is expected


# ---- generated documents -----------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([2.0, 1.0, 0.0, -1.0, 0.5, 1e-4]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "torchtune", "a b", "x", "02:00:00", "64G",
                                                                      "..", "1", "lora_rank", "Torchtune"]),
    st.text(max_size=5),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(["name", "framework", "lora_rank", "base_config", "max_runs",
                                               "zip", "x"]), st.text(max_size=3)), inner, max_size=3),
    st.dictionaries(st.integers(0, 2), inner, min_size=1, max_size=2),  # a key YAML can give but JSON cannot
), max_leaves=6)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, prefix + (i,))
    return out


def mutate(doc: Any, pick: Any, value: Any) -> Any:
    """Apply 1-3 random edits; *pick* chooses from a list, *value* makes a new value."""
    for _ in range(pick([1, 2, 3])):
        where = pick(paths(doc))
        action = pick(["replace", "delete", "add"])
        if not where:
            if action == "replace":
                doc = value()
            continue
        parent = doc
        for k in where[:-1]:
            parent = parent[k]
        if action == "replace":
            parent[where[-1]] = value()
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent[where[-1]], dict):
            parent[where[-1]][pick(["name", "zip", "extra", "lr", 3])] = value()
        elif isinstance(parent[where[-1]], list):
            parent[where[-1]].append(value())
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    return mutate(copy.deepcopy(FULL), lambda seq: draw(st.sampled_from(seq)), lambda: draw(values))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_same_answer_on_generated_documents(doc: Any) -> None:
    answer = is_valid(doc, SCHEMA)
    if answer is not None:
        assert answer == judge(doc), doc


def test_mutated_documents_are_mostly_decided() -> None:
    """Guard against a checker that says "unsure" to everything and so proves nothing above."""
    rng = random.Random(7)
    pool = [None, True, 0, 1, 2, 2.0, 0.5, float("nan"), "", "x", "torchtune", [], [1], ["a", "a"], {}, {"a": [1]}]
    docs = [mutate(copy.deepcopy(FULL), rng.choice, lambda: copy.deepcopy(rng.choice(pool))) for _ in range(300)]
    answers = [is_valid(d, SCHEMA) for d in docs]
    assert answers.count(True) > 30 and answers.count(False) > 100, (answers.count(True), answers.count(False))
    for doc, answer in zip(docs, answers):
        if answer is not None:
            assert answer == judge(doc), doc


def test_unknown_keyword_makes_it_unsure() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}}
    assert is_valid({"a": "abcd"}, schema) is None
    assert is_valid({"b": 1}, schema) is True  # the unknown keyword is never reached
    assert is_valid({"a": 1}, {"oneOf": [{"type": "string"}, {"not": {}}]}) is None
