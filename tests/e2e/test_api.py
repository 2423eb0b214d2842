"""The Python API as a notebook uses it: experiments from files and dicts, plans, renders,
output folders as objects, and the old `generate_configs` entry point."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

import ttgen
from helpers import REPO, example_names, write

EXAMPLES = REPO / "examples"


def as_dict(path: Path) -> dict:
    """A file's content as Python code would hold it: OmegaConf's reading, interpolations kept."""
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("example", example_names())
def test_from_file_and_from_dict_are_equal_for_every_example(example: str) -> None:
    path = EXAMPLES / example / "experiment.yaml"
    from_file = ttgen.Experiment.from_file(path)
    from_dict = ttgen.Experiment.from_dict(as_dict(path), base_dir=EXAMPLES / example)
    assert from_file == from_dict
    assert from_file.path == path.resolve() and from_dict.path is None
    assert from_dict.base_dir == (EXAMPLES / example).resolve()
    # and they plan the same runs
    assert [(r.run_id, r.variables) for r in from_file.plan()] == [(r.run_id, r.variables) for r in from_dict.plan()]


def test_a_dict_with_other_content_is_another_experiment() -> None:
    path = EXAMPLES / "lora_rank_sweep" / "experiment.yaml"
    data = as_dict(path)
    data["variables"]["lora_rank"] = [8, 16]
    assert ttgen.Experiment.from_dict(data, base_dir=path.parent) != ttgen.Experiment.from_file(path)
    assert ttgen.Experiment.from_dict(as_dict(path), base_dir="/elsewhere") != ttgen.Experiment.from_file(path)


BROKEN = """\
experiment:
  name: broken
  framework: torchtune
framework_config:
  base_config: llama3_2/1B_lora_single_device
variables:
  lora_rank: 8
"""


def test_errors_carry_the_same_problems_from_a_file_and_from_a_dict(tmp_path: Path) -> None:
    path = write(tmp_path / "experiment.yaml", BROKEN)
    with pytest.raises(ttgen.ExperimentError) as from_file:
        ttgen.Experiment.from_file(path)
    with pytest.raises(ttgen.ExperimentError) as from_dict:
        ttgen.Experiment.from_dict(yaml.safe_load(BROKEN), base_dir=tmp_path)
    [a], [b] = from_file.value.problems, from_dict.value.problems
    assert (a.message, a.path, a.hint) == (b.message, b.path, b.hint)
    assert a.pos is not None and (a.pos.file, a.pos.line) == (str(path), 7)  # where in the file
    assert b.pos is not None and (b.pos.file, b.pos.line) == ("<dict>", 0)  # no file to point into
    assert b.format().startswith("<dict>: variables.lora_rank: ")


def test_plan_gives_each_runs_config_as_omegaconf_loads_the_rendered_file(tmp_path: Path) -> None:
    exp = ttgen.Experiment.from_file(EXAMPLES / "sweep_design" / "experiment.yaml")
    plan = exp.plan()
    assert plan.output_folder is not None and not plan.output_folder.exists(), "planning writes nothing"
    result = ttgen.render(exp, out=tmp_path / "out")
    assert result.output_dir == tmp_path / "out" and result.run_count == len(plan)
    assert "configs/run_000.yaml" in result.files
    for run in plan:
        rendered = as_dict(tmp_path / "out" / "configs" / f"{run.run_id}.yaml")
        # The same config; only the output folder's place differs (a plan points where a render without
        # --out would write).
        text = yaml.safe_dump(run.config).replace(str(plan.output_folder), str(tmp_path / "out"))
        assert yaml.safe_load(text) == rendered, run.run_id
        for dotted, value in run.overrides.items():
            node = run.config
            for key in dotted.split("."):
                node = node[key]
            assert node == value, (run.run_id, dotted)
    mapping = as_dict(tmp_path / "out" / "configs" / "run_mapping.yaml")
    assert [(r.run_id, r.variables) for r in plan] == [(k, v["variables"]) for k, v in mapping.items()]


def test_render_is_both_the_function_and_the_subpackage(tmp_path: Path) -> None:
    import ttgen.render.output  # binds the subpackage to ttgen.render, as any render does

    exp = ttgen.Experiment.from_file(EXAMPLES / "lora_rank_sweep" / "experiment.yaml")
    result = ttgen.render(exp, out=tmp_path / "o", overrides=["epochs=2"])
    assert result.run_count == 4 and "epochs: 2  # command line" in (tmp_path / "o/configs/run_000.yaml").read_text()
    assert ttgen.render.output.render_experiment is ttgen.render_experiment
    with pytest.raises(ttgen.OutputError):
        ttgen.render(exp, out=tmp_path / "o")  # exists: needs force=True
    assert ttgen.render(str(EXAMPLES / "lora_rank_sweep" / "experiment.yaml"), out=tmp_path / "o", force=True).run_count == 4


def test_open_gives_the_folder_as_an_object(tmp_path: Path) -> None:
    for part in ("folder", "train"):
        shutil.copytree(REPO / "tests" / "data" / "results_sweep" / part, tmp_path / part)
    folder = ttgen.open(tmp_path / "folder")
    assert folder.name == "results_fixture" and len(folder.runs) == 6
    run = folder.run(2)
    assert (run.run_id, run.variables) == ("run_002", {"lora_rank": 8, "seed": 0})
    assert run.config == as_dict(run.config_path) and run.config["model"]["lora_rank"] == 8
    diff = folder.diff("run_002")
    assert any(d.dotted == "model.lora_rank" and d.after == 8 for d in diff.differences)
    between = folder.diff(0, 2)
    assert {d.dotted for d in between.differences} == {"model.lora_rank", "output_dir", "ttgen.run_id",
                                                        "ttgen.variables.lora_rank"}
    assert folder.validate(level=1).ok
    assert [r.state for r in folder.status().runs] == ["NOT_SUBMITTED"] * 6  # never submitted to SLURM
    results = folder.results(workdir=tmp_path)
    assert [r.state for r in results.runs] == ["COMPLETED"] * 4 + ["UNFINISHED", "NOT_SUBMITTED"]
    assert folder.report(out=tmp_path / "r.html").is_file()
    with pytest.raises(ttgen.RunLookupError):
        folder.run("run_042")
    with pytest.raises(ttgen.RunLookupError):
        ttgen.open(tmp_path / "train")


def test_check_of_an_opened_folder(tmp_path: Path) -> None:
    source = EXAMPLES / "grid_custom_base" / "experiment.yaml"  # names its base file relative to itself
    result = ttgen.render(ttgen.Experiment.from_file(source), out=tmp_path / "out")
    folder = ttgen.open(result.output_dir)
    assert folder.check(source).ok
    (folder.path / "configs" / "run_001.yaml").write_text("edited\n", encoding="utf-8")
    check = folder.check(source)
    assert not check.ok and [c.path for c in check.changed] == ["configs/run_001.yaml"]
    # Its own copy of experiment.yaml cannot find base.yaml, which stayed beside the original: a clear error.
    with pytest.raises(ttgen.UserError, match="base.yaml"):
        folder.check()


def test_generate_configs_takes_a_dict_or_a_path(tmp_path: Path) -> None:
    from torchtune_config_writer import generate_configs

    path = EXAMPLES / "lora_rank_sweep" / "experiment.yaml"
    from_path = generate_configs(path, out=tmp_path / "a")
    from_dict = generate_configs(as_dict(path), out=tmp_path / "b", base_dir=path.parent)
    assert [p.relative_to(tmp_path / "a") for p in from_path] == [p.relative_to(tmp_path / "b") for p in from_dict]
    assert [p.name for p in from_path[:4]] == [f"run_00{i}.yaml" for i in range(4)]
    assert all(p.is_file() for p in from_path + from_dict)
    for a, b in zip(from_path, from_dict):
        if a.name.startswith("run_0"):  # the same configs (a dict's 3e-4 is written 0.0003: the same float)
            assert yaml.safe_load(yaml.safe_dump(as_dict(a)).replace("/a/", "/b/")) == as_dict(b), a.name


def test_an_opened_folder_submits_and_resubmits_as_the_commands_do(tmp_path: Path) -> None:
    ttgen.render(EXAMPLES / "slurm_sweep" / "experiment.yaml", out=tmp_path / "out")
    folder = ttgen.open(tmp_path / "out")
    planned = folder.submit(dry_run=True, sbatch_args=["--partition=debug"])
    [call] = planned.calls
    assert call.args == ["--array=0-5%3", "--partition=debug"] and call.runs == [r.run_id for r in folder.runs]
    assert planned.submissions == [] and not (tmp_path / "out/slurm/state/submissions.jsonl").exists()
    again = folder.resubmit(runs="1", sets=["batch_size=2"], dry_run=True)
    assert [c.runs for c in again.calls] == [["run_001"]]
    with pytest.raises(ttgen.JobsError):
        folder.resubmit(dry_run=True)  # which runs? neither --failed nor --runs
