"""SLURM submit scripts (docs/contract.md §8): what they say, that bash and shellcheck accept them,
and that a real one-node SLURM cluster runs every array task once with its own config.

The cluster tests need SLURM (`tests/slurm/install_slurm.sh`) and start it with
`tests/slurm/start_cluster.sh`; without SLURM they skip, unless TTGEN_REQUIRE_SLURM=1
(CI), where they fail. The shellcheck test follows the same rule with
TTGEN_REQUIRE_SHELLCHECK=1. The training command is replaced by a stand-in through
TTGEN_TUNE, and the GPU, partition and size directives are overridden on sbatch's
command line, so the scripts run unchanged on a machine without GPUs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from helpers import require, EXAMPLES, REPO, run_cli, write
from snapshot_yaml import text_extension
from ttgen.errors import ExperimentError
from ttgen.render.output import render_experiment
from ttgen.plan.build import plan_experiment

EXAMPLE = EXAMPLES / "slurm_sweep" / "experiment.yaml"
START_CLUSTER = REPO / "tests" / "slurm" / "start_cluster.sh"
# Options that beat the scripts' own #SBATCH lines, so a CPU-only test cluster can run them.
CPU_OVERRIDES = ["--partition=debug", "--gres=none", "--mem=100M", "--cpus-per-task=1", "--constraint="]
# A folder name bash, sbatch's #SBATCH parser and its %-patterns all treat specially.
HOSTILE = "sweep 50% it's #1"
SBATCH_TIMEOUT = 120


def experiment(folder: Path, slurm: str, *, base: str = "base_config: llama3_2/1B_lora",
               variables: str = "lora_rank: [8, 16]\n  learning_rate: [1e-4, 3e-4]") -> Path:
    """Write an experiment.yaml with the given framework_config base line and slurm: body."""
    return write(folder / "experiment.yaml", f"""\
experiment:
  name: slurm_test
  framework: torchtune
framework_config:
  {base}
variables:
  {variables}
slurm:
{slurm}""")


def render(exp: Path, out: Path) -> Path:
    result = run_cli("render", exp, "--out", out)
    assert result.code == 0, result.err
    return out


def stand_in(folder: Path) -> tuple[Path, Path]:
    """A fake `tune`: records its arguments, task and a variable set by setup, one file per call."""
    records = folder / "records"
    records.mkdir(parents=True)
    script = write(folder / "fake_tune.sh", f"""\
#!/bin/bash
set -euo pipefail
printf '%s\\n' "$@" > "{records}/task_${{SLURM_ARRAY_TASK_ID:-none}}.job_${{SLURM_JOB_ID:-none}}.$$"
echo "setup=${{TTGEN_TEST_FROM_SETUP:-}}" >> "{records}/task_${{SLURM_ARRAY_TASK_ID:-none}}.job_${{SLURM_JOB_ID:-none}}.$$"
echo "job=${{SLURM_JOB_ID:-none}}" >> "{records}/task_${{SLURM_ARRAY_TASK_ID:-none}}.job_${{SLURM_JOB_ID:-none}}.$$"
""")
    script.chmod(0o755)
    return script, records


def read_records(records: Path) -> dict[str, list[list[str]]]:
    """task id -> the argument lists it was called with (one per call)."""
    out: dict[str, list[list[str]]] = {}
    for f in sorted(records.iterdir()):
        out.setdefault(f.name.split(".")[0].removeprefix("task_"), []).append(f.read_text().splitlines())
    return out


def expected_args(out: Path, run_id: str, *, distributed: str | None, recipe: str, job: str = "none",
                  head: str = "", nnodes: str = "1", port: int = 29500) -> list[str]:
    """What the stand-in records: the tune arguments (a distributed recipe: torchrun's rendezvous at
    *head*, named by the job id), then what setup exported and the job id it saw."""
    launch = (["run", "--nnodes", nnodes, "--nproc_per_node", distributed, "--rdzv_id", job, "--rdzv_backend",
               "c10d", "--rdzv_endpoint", f"{head}:{port}", recipe] if distributed else ["run", recipe])
    return [*launch, "--config", str(out.resolve() / "configs" / f"{run_id}.yaml"), "setup=yes", f"job={job}"]


def fake_slurm_tools(folder: Path, *nodes: str) -> dict[str, str]:
    """PATH and SLURM variables for running a distributed script with bash: `srun` runs its command
    once, `scontrol show hostnames` lists *nodes* (the real tools are tested on the cluster)."""
    bin_dir = folder / "fake_bin"
    write(bin_dir / "srun", '#!/bin/bash\nexec "$@"\n').chmod(0o755)
    write(bin_dir / "scontrol", "#!/bin/bash\n[[ $1 == show && $2 == hostnames ]] || exit 2\n"
          + "".join(f"echo {n}\n" for n in nodes)).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": ",".join(nodes),
            "SLURM_NNODES": str(len(nodes))}


SETUP = """\
  setup:
    - 'echo "an unset variable in setup is fine: [${TTGEN_TEST_UNSET_VARIABLE}]"'
    - export TTGEN_TEST_FROM_SETUP=yes
"""
# Written for a GPU cluster: the CPU test overrides partition, gres, mem, cpus and constraint.
GPU_SECTION = """\
  partition: gpu
  account: my_lab
  time: "01:00:00"
  gpus_per_node: 2
  cpus_per_task: 8
  mem: 64G
  constraint: a100
  max_parallel: 2
""" + SETUP


# --- what the scripts say -------------------------------------------------------------------


def test_example_renders_array_and_per_run_scripts(tmp_path: Path) -> None:
    result = run_cli("render", EXAMPLE, "--out", tmp_path / "o")
    assert result.code == 0, result.err
    out = (tmp_path / "o").resolve()
    assert f"  ttgen submit {tmp_path / 'o'}   # every run on SLURM (or: sbatch {out}/slurm/submit_array.sh)" \
        in result.out.splitlines()
    scripts = sorted(p.name for p in (out / "slurm").glob("*.sh"))
    assert scripts == ["submit_array.sh"] + [f"submit_run_{i:03d}.sh" for i in range(6)]
    for name in scripts:
        assert os.access(out / "slurm" / name, os.X_OK), name
    assert (out / "slurm" / "logs").is_dir()  # sbatch does not create it
    assert list((out / "slurm" / "state").iterdir()) == []  # the jobs write their markers there
    array = (out / "slurm" / "submit_array.sh").read_text()
    assert array.startswith("#!/bin/bash\n")
    assert "\nset -euo pipefail\n" in array
    for line in ["#SBATCH --job-name=lora_lr_rank_slurm", "#SBATCH --array=0-5%3",
                 f"#SBATCH --output={out}/slurm/logs/run_%3a-%A.out",
                 f"#SBATCH --error={out}/slurm/logs/run_%3a-%A.err", "#SBATCH --partition=gpu",
                 "#SBATCH --account=my_lab", "#SBATCH --time=04:00:00", "#SBATCH --gres=gpu:1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64G", "#SBATCH --mail-type=END,FAIL",
                 "#SBATCH --mail-user=researcher@example.org", "#SBATCH --signal=USR1@120",
                 f"configs_dir={out}/configs", "printf -v run_id 'run_%03d' \"$((10#$task + 10#$offset))\"",
                 'launch=("$tune" run lora_finetune_single_device --config "$config" "$@")',
                 f"state_dir={out}/slurm/state", 'mark started "host=${HOSTNAME} job=$job"',
                 '"${launch[@]}" || code=$?', 'mark ended "exit=$code"', 'exit "$code"']:
        assert line + "\n" in array, line
    # Setup lines run between set +u and set -u, before the training command.
    assert "set +u\nmodule load cuda/12.1\nsource \"$HOME/miniconda3/etc/profile.d/conda.sh\"\n" \
           "conda activate torchtune\nset -u\n" in array
    assert array.index("set -u\n") < array.index('mark started') < array.index('"${launch[@]}"')
    assert "exec" not in array and "--ntasks-per-node" not in array and "srun" not in array
    one = (out / "slurm" / "submit_run_004.sh").read_text()
    assert "--array" not in one
    assert "#SBATCH --job-name=lora_lr_rank_slurm_run_004\n" in one
    assert f"#SBATCH --output={out}/slurm/logs/run_004-%j.out\n" in one
    assert f"config={out}/configs/run_004.yaml\n" in one
    # The manifest records the scripts like every other file.
    manifest = (out / "manifest.yaml").read_text()
    assert "slurm/submit_array.sh:" in manifest and "slurm/submit_run_005.sh:" in manifest


def test_no_slurm_section_no_scripts(tmp_path: Path) -> None:
    result = run_cli("render", EXAMPLES / "lora_rank_sweep" / "experiment.yaml", "--out", tmp_path / "o")
    assert result.code == 0 and "sbatch" not in result.out
    assert not (tmp_path / "o" / "slurm").exists()


def test_sbatch_command_in_json(tmp_path: Path) -> None:
    import json

    out = tmp_path / HOSTILE
    result = run_cli("render", EXAMPLE, "--out", out, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    quoted = "'" + str(out.resolve()).replace("'", "'\"'\"'") + "/slurm/submit_array.sh'"
    assert doc["sbatch"] == "sbatch " + quoted
    dry = json.loads(run_cli("render", EXAMPLE, "--dry-run", "--json").out)
    assert dry["sbatch"] is None


def distributed_launch(nproc: str, recipe: str, *, port: int = 29500) -> str:
    """The shipped template's launch line of a distributed recipe (torchtune's multi-node form)."""
    return (f'launch=(srun "$tune" run --nnodes "$SLURM_NNODES" --nproc_per_node {nproc} --rdzv_id "$SLURM_JOB_ID" '
            f'--rdzv_backend c10d --rdzv_endpoint "$head_node:{port}" {recipe} --config "$config" "$@")\n')


def single_launch(recipe: str) -> str:
    return f'launch=("$tune" run {recipe} --config "$config" "$@")\n'


@pytest.mark.parametrize(("base", "gpus", "launch"), [
    ("base_config: llama3_2/1B_lora", "gpus_per_node: 4", distributed_launch("4", "lora_finetune_distributed")),
    # A distributed recipe still goes through torchrun on one GPU, or none.
    ("base_config: llama3_2/1B_lora", "gpus_per_node: 1", distributed_launch("1", "lora_finetune_distributed")),
    ("base_config: llama3_2/1B_lora", "time: \"10\"", distributed_launch("1", "lora_finetune_distributed")),
    ("base_config: llama3_2/1B_lora_single_device", "gpus_per_node: 1", single_launch("lora_finetune_single_device")),
    ("base_config: llama3_2/1B_lora_single_device", "gpus_per_node: 0", single_launch("lora_finetune_single_device")),
    # A file base: the recipe is looked up in torchtune's registry ...
    ("base_config_file: base.yaml\n  recipe: full_finetune_distributed", "gpus_per_node: 2",
     distributed_launch("2", "full_finetune_distributed")),
    ("base_config_file: base.yaml\n  recipe: lora_finetune_single_device", "gpus_per_node: 1",
     single_launch("lora_finetune_single_device")),
    # ... and a name it does not know is judged by its name.
    ("base_config_file: base.yaml\n  recipe: my_lab/sft_distributed", "gpus_per_node: 8",
     distributed_launch("8", "my_lab/sft_distributed")),
    # A shipped config's recipe can be replaced; the replacement decides.
    ("base_config: llama3_2/1B_lora_single_device\n  recipe: lora_finetune_distributed", "gpus_per_node: 2",
     distributed_launch("2", "lora_finetune_distributed")),
])
def test_launch_command(tmp_path: Path, base: str, gpus: str, launch: str) -> None:
    shutil.copy(EXAMPLES / "grid_custom_base" / "base.yaml", tmp_path / "base.yaml")
    out = render(experiment(tmp_path, f"  {gpus}\n", base=base), tmp_path / "o")
    array = (out / "slurm" / "submit_array.sh").read_text()
    assert launch in array
    gres = gpus.startswith("gpus_per_node") and not gpus.endswith(" 0")
    assert ("#SBATCH --gres=gpu:" in array) == gres
    # A distributed recipe runs one torchrun per node, on nodes: 1 too (the default).
    distributed = "srun" in launch
    assert ("#SBATCH --nodes=1\n#SBATCH --ntasks-per-node=1\n" in array) == distributed
    assert ("--nodes" in array) == distributed


def test_recipe_file_is_absolute_and_judged_by_name(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "grid_custom_base" / "base.yaml", tmp_path / "base.yaml")
    exp = experiment(tmp_path, "  gpus_per_node: 2\n",
                     base="base_config_file: base.yaml\n  recipe: recipes/my_sft_distributed.py")
    out = render(exp, tmp_path / "o")
    array = (out / "slurm" / "submit_array.sh").read_text()
    recipe = tmp_path.resolve() / "recipes" / "my_sft_distributed.py"
    assert distributed_launch("2", str(recipe)) in array


def test_final_dir_not_temporary_folder(tmp_path: Path) -> None:
    """Paths point at the folder the scripts will be used from (ttgen check renders elsewhere)."""
    exp = experiment(tmp_path, "  gpus_per_node: 1\n")
    final = tmp_path / "the final place"
    render_experiment(exp, out=tmp_path / "staging", final_dir=final)
    array = (tmp_path / "staging" / "slurm" / "submit_array.sh").read_text()
    assert f"configs_dir='{final}/configs'" in array
    assert str(tmp_path / "staging") not in array and ".ttgen-tmp-" not in array


def test_default_job_name_and_own_job_name(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, "  job_name: lr-sweep.v2\n"), tmp_path / "o")
    assert "#SBATCH --job-name=lr-sweep.v2\n" in (out / "slurm" / "submit_array.sh").read_text()
    assert "#SBATCH --job-name=lr-sweep.v2_run_001\n" in (out / "slurm" / "submit_run_001.sh").read_text()


def test_extra_directives_keep_their_text(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, "  extra_directives:\n    - --exclusive\n    - '#SBATCH --nice=10'\n"),
                 tmp_path / "o")
    array = (out / "slurm" / "submit_array.sh").read_text()
    assert "#SBATCH --exclusive\n#SBATCH --nice=10\n" in array


def test_run_ids_wider_than_three_digits(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(1, 1101))
    exp = experiment(tmp_path, "  max_parallel: 50\n", variables=f"seed: [{values}]")
    result = run_cli("render", exp, "--out", tmp_path / "o")
    assert result.code == 0, result.err
    # 1100 runs are more than SLURM's default MaxArraySize allows: a warning, not an error.
    assert "slurm: warning: 1100 runs make array indices up to 1099" in result.err
    array = (tmp_path / "o" / "slurm" / "submit_array.sh").read_text()
    assert "#SBATCH --array=0-1099%50\n" in array and "run_%4a-%A.out" in array
    assert "printf -v run_id 'run_%04d' \"$((10#$task + 10#$offset))\"" in array
    assert (tmp_path / "o" / "slurm" / "submit_run_1099.sh").is_file()


# --- errors, found at plan time so --dry-run reports them ----------------------------------


@pytest.mark.parametrize(("base", "slurm", "expected"), [
    ("base_config_file: base.yaml", "  gpus_per_node: 1\n",
     ["experiment.yaml:5:3: framework_config.recipe: a recipe is needed", "hint: add recipe: under framework_config"]),
    ("base_config: llama3_2/1B_lora_single_device", "  gpus_per_node: 2\n",
     ["experiment.yaml:10:18: slurm.gpus_per_node: recipe lora_finetune_single_device runs on a single device, "
      "but gpus_per_node is 2",
      "hint: use the distributed recipe: base_config: llama3_2/1B_lora (recipe lora_finetune_distributed)"]),
    ("base_config_file: base.yaml\n  recipe: full_finetune_single_device", "  gpus_per_node: 4\n",
     ["experiment.yaml:11:18: slurm.gpus_per_node: recipe full_finetune_single_device runs on a single device",
      "hint: set framework_config.recipe: full_finetune_distributed"]),
    # Several nodes need a distributed recipe (with one, several nodes are fine: test_slurm_launch.py).
    ("base_config: llama3_2/1B_lora_single_device", "  nodes: 2\n",
     ["experiment.yaml:10:10: slurm.nodes: recipe lora_finetune_single_device runs on a single device, "
      "but nodes is 2",
      "hint: use the distributed recipe: base_config: llama3_2/1B_lora (recipe lora_finetune_distributed), "
      "or set nodes: 1"]),
    ("base_config_file: base.yaml\n  recipe: my_sft.py", "  nodes: 4\n",
     ["experiment.yaml:11:10: slurm.nodes: recipe my_sft.py runs on a single device, but nodes is 4",
      "hint: use a recipe that supports several processes (its name ends in _distributed), or set nodes: 1"]),
    ("base_config: llama3_2/1B_lora", "  rdzv_port: 70000\n",
     ["experiment.yaml:10:14: slurm.rdzv_port: "]),
    ("base_config: llama3_2/1B_lora", "  time: 2:00:00\n",
     ["experiment.yaml:10:9: slurm.time: expected a string, got integer 7200",
      "hint: write a SLURM time limit as a quoted string", "unquoted, 2:00:00 is read as the number 7200"]),
    ("base_config: llama3_2/1B_lora", "  time: two hours\n",
     ["experiment.yaml:10:9: slurm.time: 'two hours' is not allowed here", "hint: write a SLURM time limit as a quoted string: time: \"02:00:00\""]),
    ("base_config: llama3_2/1B_lora", "  template: my_slurm.sh.j2\n",
     ["experiment.yaml:10:13: slurm.template: template 'my_slurm.sh.j2' not found", "relative to the folder"]),
    ("base_config: llama3_2/1B_lora", "  extra_directives: [exclusive]\n",
     ["experiment.yaml:10:22: slurm.extra_directives[0]: 'exclusive' is not one #SBATCH option"]),
    ("base_config: llama3_2/1B_lora", "",
     ["slurm: expected a mapping, got null", "write slurm: {} for the defaults, or remove the section"]),
    ("base_config: llama3_2/1B_lora", "  partiton: gpu\n",
     ["experiment.yaml:10:3: slurm.partiton: unknown field 'partiton' in slurm", "did you mean 'partition'?"]),
])
def test_errors_with_positions_on_dry_run(tmp_path: Path, base: str, slurm: str, expected: list[str]) -> None:
    shutil.copy(EXAMPLES / "grid_custom_base" / "base.yaml", tmp_path / "base.yaml")
    exp = experiment(tmp_path, slurm, base=base)
    result = run_cli("render", exp, "--dry-run", cwd=tmp_path)
    assert result.code == 1, result.out
    for text in expected:
        assert text in result.err, result.err
    assert "Traceback" not in result.err


def test_several_slurm_errors_reported_together(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "grid_custom_base" / "base.yaml", tmp_path / "base.yaml")
    exp = experiment(tmp_path, "  nodes: 3\n  template: nope.j2\n", base="base_config_file: base.yaml")
    with pytest.raises(ExperimentError) as err:
        plan_experiment(exp)
    assert [p.path for p in err.value.errors] == ["framework_config.recipe", "slurm.template"]
    exp = experiment(tmp_path, "  gpus_per_node: 2\n  nodes: 3\n  template: nope.j2\n",
                     base="base_config_file: base.yaml\n  recipe: full_finetune_single_device")
    with pytest.raises(ExperimentError) as err:
        plan_experiment(exp)
    assert [p.path for p in err.value.errors] == ["slurm.gpus_per_node", "slurm.nodes", "slurm.template"]


def test_file_base_without_recipe_is_fine_without_slurm(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "grid_custom_base" / "base.yaml", tmp_path / "base.yaml")
    exp = write(tmp_path / "experiment.yaml", "experiment: {name: x, framework: torchtune}\n"
                                              "framework_config: {base_config_file: base.yaml}\n")
    assert run_cli("render", exp, "--dry-run").code == 0


def test_bad_output_path_for_sbatch(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "  gpus_per_node: 1\n")
    result = run_cli("render", exp, "--out", tmp_path / "back\\slash")
    assert result.code == 1 and "backslash" in result.err
    assert not (tmp_path / "back\\slash").exists()


# --- own templates ------------------------------------------------------------------------


def test_own_template_renders_both_kinds_of_script(tmp_path: Path) -> None:
    write(tmp_path / "tpl" / "mine.sh.j2", """\
#!/bin/bash
# {{ job_name }} {{ run_count }} runs, width {{ id_width }}, recipe {{ recipe }}, nproc {{ nproc_per_node }}
{% for d in directives %}
#SBATCH {{ d }}
{% endfor %}
set -euo pipefail
{% if array %}
# all: {% for r in runs %}{{ r.run_id }}={{ r.variables.lora_rank }} {% endfor %}

{% else %}
# one: {{ run.run_id }} {{ run.config | sh }} index {{ run.index }}
{% endif %}
# {{ script | sh }} {{ output_dir | sh }} {{ configs_dir | sh }} {{ log_dir | sh }} {{ sbatch_command }}
# {{ experiment.name }} {{ experiment_name }} {{ slurm.partition }} {{ tune_args | join(' ') }} {{ distributed }}
# {{ setup | length }} {{ state_dir | sh }} {{ started_suffix }} {{ ended_suffix }} {{ rdzv_port }}
""")
    exp = experiment(tmp_path, "  partition: p1\n  gpus_per_node: 2\n  template: tpl/mine.sh.j2\n")
    out = render(exp, tmp_path / "o").resolve()
    array = (out / "slurm" / "submit_array.sh").read_text()
    assert "# slurm_test 4 runs, width 3, recipe lora_finetune_distributed, nproc 2\n" in array
    assert "#SBATCH --array=0-3\n" in array and "#SBATCH --partition=p1\n" in array
    assert "# all: run_000=8 run_001=8 run_002=16 run_003=16 \n" in array
    assert f"# {out}/slurm/submit_array.sh {out} {out}/configs {out}/slurm/logs sbatch {out}/slurm/submit_array.sh\n" \
           in array
    assert "# slurm_test slurm_test p1 run --nproc_per_node 2 lora_finetune_distributed True\n" in array
    assert f"# 0 {out}/slurm/state started ended 29500\n" in array
    one = (out / "slurm" / "submit_run_002.sh").read_text()
    assert f"# one: run_002 {out}/configs/run_002.yaml index 2\n" in one
    assert "--array" not in one


def test_own_template_may_extend_the_shipped_one(tmp_path: Path) -> None:
    write(tmp_path / "mine.j2", """\
{% extends "slurm_array.sh.j2" if array else "slurm_run.sh.j2" %}
{% block about %}
# my lab's header
{% endblock %}
""")
    out = render(experiment(tmp_path, "  template: mine.j2\n"), tmp_path / "o")
    array = (out / "slurm" / "submit_array.sh").read_text()
    assert array.startswith("#!/bin/bash\n# my lab's header\n#SBATCH --job-name=slurm_test\n")
    assert "printf -v run_id" in array
    assert "run_id=run_001\n" in (out / "slurm" / "submit_run_001.sh").read_text()


def test_own_template_with_an_unknown_name_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "mine.j2", "#!/bin/bash\n{{ gpu_count }}\n")
    result = run_cli("render", experiment(tmp_path, "  template: mine.j2\n"), "--out", tmp_path / "o")
    assert result.code == 1
    assert f"{tmp_path.resolve() / 'mine.j2'}: SLURM template failed: 'gpu_count' is undefined" in result.err
    assert not (tmp_path / "o").exists()


def test_own_template_syntax_error_found_on_dry_run(tmp_path: Path) -> None:
    write(tmp_path / "mine.j2", "#!/bin/bash\n\n{% if array %}\n")
    result = run_cli("render", experiment(tmp_path, "  template: mine.j2\n"), "--dry-run")
    assert result.code == 1
    assert f"{tmp_path.resolve() / 'mine.j2'}:3:1: template syntax error" in result.err


def test_templates_folder_replaces_shipped_script_template(tmp_path: Path) -> None:
    write(tmp_path / "tpl" / "slurm_run.sh.j2", "#!/bin/bash\necho {{ run.run_id }}\n")
    exp = experiment(tmp_path, "  gpus_per_node: 1\n")
    result = run_cli("render", exp, "--out", tmp_path / "o", "--templates", tmp_path / "tpl")
    assert result.code == 0, result.err
    assert (tmp_path / "o" / "slurm" / "submit_run_003.sh").read_text() == "#!/bin/bash\necho run_003\n"
    assert "printf -v run_id" in (tmp_path / "o" / "slurm" / "submit_array.sh").read_text()


# --- golden scripts beyond the examples -------------------------------------------------------


def test_golden_distributed_scripts(tmp_path: Path, snapshot) -> None:
    exp = experiment(tmp_path, GPU_SECTION)
    render_experiment(exp, out=tmp_path / "o", final_dir=Path("/ttgen-golden/distributed"))
    sh = text_extension("sh")
    for name in ("submit_array.sh", "submit_run_002.sh"):
        assert (tmp_path / "o" / "slurm" / name).read_text() == snapshot(name=name, extension_class=sh)


# --- running the scripts with bash, without SLURM ---------------------------------------------


def run_script(script: Path, tune: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run *script* with bash, outside SLURM (unless *env* says otherwise), passing it *args*."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TTGEN_RUN_OFFSET"))}
    full.update(env, TTGEN_TUNE=str(tune))
    return subprocess.run(["bash", str(script), *args], env=full, capture_output=True, text=True, timeout=60)


def test_scripts_run_with_bash_from_a_hostile_folder(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, GPU_SECTION), tmp_path / HOSTILE)
    tune, records = stand_in(tmp_path)
    slurm = fake_slurm_tools(tmp_path, "node-a", "node-b")  # a distributed recipe starts through srun
    array = out / "slurm" / "submit_array.sh"
    for task in range(4):
        done = run_script(array, tune, SLURM_ARRAY_TASK_ID=str(task), SLURM_JOB_ID=f"7{task}", **slurm)
        assert done.returncode == 0, done.stderr
        config = out.resolve() / "configs" / f"run_{task:03d}.yaml"
        assert (f"ttgen: experiment slurm_test, run_{task:03d} (array task {task}, TTGEN_RUN_OFFSET=0), "
                f"job 7{task} on ") in done.stdout
        assert f"ttgen: config {config}\n" in done.stdout
        assert "an unset variable in setup is fine: []" in done.stdout
    single = run_script(out / "slurm" / "submit_run_001.sh", tune, SLURM_JOB_ID="80", **slurm)
    assert single.returncode == 0, single.stderr
    assert "ttgen: experiment slurm_test, run_001, job 80 on " in single.stdout
    got = read_records(records)
    assert sorted(got) == ["0", "1", "2", "3", "none"]
    for task in range(4):
        assert got[str(task)] == [expected_args(out, f"run_{task:03d}", distributed="2", job=f"7{task}",
                                                head="node-a", nnodes="2", recipe="lora_finetune_distributed")]
    assert got["none"] == [expected_args(out, "run_001", distributed="2", job="80", head="node-a", nnodes="2",
                                         recipe="lora_finetune_distributed")]
    state = sorted(p.name for p in (out / "slurm" / "state").iterdir())
    assert state == [f"run_00{i}@{job}.{what}" for i, job in [(0, 70), (1, 71), (1, 80), (2, 72), (3, 73)]
                     for what in ("ended", "started")]


def test_distributed_script_needs_slurm(tmp_path: Path) -> None:
    """Outside SLURM there is no srun nor node list: a clear message, before any marker or training."""
    out = render(experiment(tmp_path, "  gpus_per_node: 2\n"), tmp_path / "o")
    tune, records = stand_in(tmp_path)
    done = run_script(out / "slurm" / "submit_run_000.sh", tune)
    assert done.returncode == 1
    assert "a distributed recipe starts through srun: submit this script with sbatch" in done.stderr
    assert read_records(records) == {} and list((out / "slurm" / "state").iterdir()) == []


@pytest.mark.parametrize(("env", "message"), [
    ({}, "this is a job array: submit it with sbatch"),
    ({"SLURM_ARRAY_TASK_ID": "4"}, "array task '4' with TTGEN_RUN_OFFSET=0 has no run: this experiment has runs 0 to 3"),
    ({"SLURM_ARRAY_TASK_ID": "x"}, "array task 'x' with TTGEN_RUN_OFFSET=0 has no run"),
    # The offset of a chained array counts in the range check.
    ({"SLURM_ARRAY_TASK_ID": "2", "TTGEN_RUN_OFFSET": "2"},
     "array task '2' with TTGEN_RUN_OFFSET=2 has no run: this experiment has runs 0 to 3"),
    ({"SLURM_ARRAY_TASK_ID": "0", "TTGEN_RUN_OFFSET": "-1"},
     "TTGEN_RUN_OFFSET must be a non-negative integer (the run of array task 0), not '-1'"),
    ({"SLURM_ARRAY_TASK_ID": "0", "TTGEN_RUN_OFFSET": "2; touch x"}, "not '2; touch x'"),
    ({"SLURM_ARRAY_TASK_ID": "0", "TTGEN_RUN_OFFSET": ""}, "not ''"),
])
def test_array_script_refuses_a_task_without_a_run(tmp_path: Path, env: dict[str, str], message: str) -> None:
    out = render(experiment(tmp_path, "  gpus_per_node: 1\n"), tmp_path / "o")
    tune, records = stand_in(tmp_path)
    done = run_script(out / "slurm" / "submit_array.sh", tune, **env)
    assert done.returncode != 0 and message in done.stderr
    assert read_records(records) == {} and list((out / "slurm" / "state").iterdir()) == []


def test_missing_config_stops_before_training(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, "  gpus_per_node: 1\n"), tmp_path / "o")
    (out / "configs" / "run_002.yaml").unlink()
    tune, records = stand_in(tmp_path)
    done = run_script(out / "slurm" / "submit_array.sh", tune, SLURM_ARRAY_TASK_ID="2")
    assert done.returncode == 1 and "run_002.yaml not found" in done.stderr
    assert read_records(records) == {}


def test_failing_setup_line_stops_the_job(tmp_path: Path) -> None:
    out = render(experiment(tmp_path, "  setup: [module_that_does_not_exist load cuda]\n"), tmp_path / "o")
    tune, records = stand_in(tmp_path)
    done = run_script(out / "slurm" / "submit_run_000.sh", tune)
    assert done.returncode == 127 and "module_that_does_not_exist" in done.stderr
    assert read_records(records) == {}
    assert list((out / "slurm" / "state").iterdir()) == []  # training never started


# --- shellcheck ---------------------------------------------------------------------------------


def test_scripts_are_shellcheck_clean(tmp_path: Path) -> None:
    shellcheck = require("shellcheck", "TTGEN_REQUIRE_SHELLCHECK", "apt-get install -y shellcheck")
    folders = [render(EXAMPLE, tmp_path / "example"),
               render(experiment(tmp_path / "gpu", GPU_SECTION), tmp_path / HOSTILE),
               render(experiment(tmp_path / "plain", "  time: \"10\"\n"), tmp_path / "plain out")]
    scripts = [str(p) for folder in folders for p in sorted((folder / "slurm").glob("*.sh"))]
    assert len(scripts) == 7 + 5 + 5
    done = subprocess.run([shellcheck, "--shell=bash", "--severity=style", *scripts], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    syntax = subprocess.run(["bash", "-n", scripts[0]], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr


# --- a real SLURM cluster -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[None]:
    """A running one-node SLURM cluster (started by tests/slurm/start_cluster.sh when needed)."""
    require("sbatch", "TTGEN_REQUIRE_SLURM", "run tests/slurm/install_slurm.sh as root", name="SLURM")
    started = subprocess.run(["bash", str(START_CLUSTER)], capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, f"tests/slurm/start_cluster.sh failed:\n{started.stdout}{started.stderr}"
    yield


def slurm_node() -> str:
    """The test cluster's one node (the head node of every job)."""
    done = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%N"], capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stdout.split()[0]


def sbatch_wait(script: Path, tune: Path, cwd: Path, *, options: tuple[str, ...] = (), args: tuple[str, ...] = (),
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Submit *script* with the CPU overrides (and *options*, then the script's *args*) and wait for it
    (all array tasks), with a time limit."""
    full = dict(os.environ, TTGEN_TUNE=str(tune), **(env or {}))
    done = subprocess.run(["timeout", str(SBATCH_TIMEOUT), "sbatch", "--wait", "--parsable", *CPU_OVERRIDES,
                           *options, str(script), *args], env=full, cwd=cwd, capture_output=True, text=True,
                          timeout=SBATCH_TIMEOUT + 30)
    if done.returncode == 124:  # timed out: do not leave the job queued for the next test
        job = done.stdout.strip().split(";")[0]
        if job:
            subprocess.run(["scancel", job], capture_output=True, timeout=30)
        pytest.fail(f"sbatch --wait did not return within {SBATCH_TIMEOUT}s; squeue:\n"
                    + subprocess.run(["squeue"], capture_output=True, text=True, timeout=30).stdout)
    return done


@pytest.mark.needs_slurm
def test_array_runs_every_task_once_on_slurm(tmp_path: Path, slurm_cluster: None) -> None:
    out = render(experiment(tmp_path, GPU_SECTION), tmp_path / HOSTILE).resolve()
    tune, records = stand_in(tmp_path)
    done = sbatch_wait(out / "slurm" / "submit_array.sh", tune, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    job = done.stdout.strip().split(";")[0]
    got = read_records(records)
    assert sorted(got) == ["0", "1", "2", "3"], got
    node = slurm_node()
    for task in range(4):
        run_id = f"run_{task:03d}"
        [args] = got[str(task)]
        # torchrun's rendezvous is named by the task's own job id, and meets at the job's node.
        task_job = args[-1].removeprefix("job=")
        assert args == expected_args(out, run_id, distributed="2", job=task_job, head=node,
                                     recipe="lora_finetune_distributed")
        log = out / "slurm" / "logs" / f"{run_id}-{job}.out"
        text = log.read_text()
        assert f"ttgen: experiment slurm_test, {run_id} (array task {task}, TTGEN_RUN_OFFSET=0)" in text
        assert f"ttgen: starting {run_id}: srun {tune} run --nnodes 1 --nproc_per_node 2 --rdzv_id {task_job} " in text
        assert (out / "slurm" / "state" / f"{run_id}@{job}_{task}.ended").read_text().endswith(" exit=0\n")
        assert (out / "slurm" / "logs" / f"{run_id}-{job}.err").read_text() == ""


@pytest.mark.needs_slurm
def test_per_run_script_on_slurm(tmp_path: Path, slurm_cluster: None) -> None:
    out = render(EXAMPLE, tmp_path / "o").resolve()
    tune, records = stand_in(tmp_path)
    # The example's setup lines load modules this test cluster lacks: run a copy without them,
    # keeping every #SBATCH line (the overrides beat them).
    script = out / "slurm" / "submit_run_004.sh"
    text = script.read_text()
    start, end = text.index("set +u\n"), text.index("set -u\n")
    script.write_text(text[:start] + "set +u\nexport TTGEN_TEST_FROM_SETUP=yes\n" + text[end:])
    done = sbatch_wait(script, tune, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    job = done.stdout.strip().split(";")[0]
    assert read_records(records) == {"none": [expected_args(out, "run_004", distributed=None, job=job,
                                                            recipe="lora_finetune_single_device")]}
    log = (out / "slurm" / "logs" / f"run_004-{job}.out").read_text()
    assert f"ttgen: config {out}/configs/run_004.yaml" in log


@pytest.mark.needs_slurm
def test_failing_task_fails_the_array_on_slurm(tmp_path: Path, slurm_cluster: None) -> None:
    """sbatch --wait reports a task's failure: a broken run is not mistaken for success."""
    out = render(experiment(tmp_path, "  gpus_per_node: 1\n", variables="lora_rank: [8, 16]"), tmp_path / "o")
    (out / "configs" / "run_001.yaml").unlink()
    tune, records = stand_in(tmp_path)
    done = sbatch_wait(out / "slurm" / "submit_array.sh", tune, tmp_path)
    assert done.returncode != 0
    assert sorted(read_records(records)) == ["0"]


@pytest.mark.slow
@pytest.mark.parametrize(("require_it", "code", "outcome", "message"), [
    ("1", 1, "1 error", "SLURM is not installed but TTGEN_REQUIRE_SLURM=1"),  # a failing fixture: an error
    ("", 0, "1 skipped", "SLURM not installed (CI installs it)"),
])
def test_without_slurm_the_cluster_tests_skip_or_fail(tmp_path: Path, require_it: str, code: int, outcome: str,
                                                      message: str) -> None:
    """CI sets TTGEN_REQUIRE_SLURM=1 so a missing SLURM can never pass as a skip."""
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTGEN_", "PYTEST_"))}
    env.update(PATH=str(tmp_path), TTGEN_REQUIRE_SLURM=require_it)  # no sbatch on this PATH
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider",
                           str(Path(__file__)), "-k", "test_per_run_script_on_slurm"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code and outcome in done.stdout and message in done.stdout, done.stdout + done.stderr
