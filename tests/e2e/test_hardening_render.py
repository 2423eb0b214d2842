"""A template of the user's that fails, and an output path the file system cannot hold: clear errors, no traceback.

(Issue 16: "a template that divides by zero, includes itself or is not UTF-8; an --out path
longer than the system's name or path limit".)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import REPO, run_cli, write

EXPERIMENT = "experiment: {name: t, framework: torchtune}\nframework_config: {base_config: llama3_2/1B_lora_single_device}\n"
SHIPPED = (REPO / "templates" / "config.yaml.j2").read_text(encoding="utf-8")


@pytest.mark.parametrize(("tail", "says"), [
    ("{{ 1 // 0 }}\n", "template failed: ZeroDivisionError"),
    ('{% include "config.yaml.j2" %}\n', "template includes itself (endless recursion)"),
])
def test_a_failing_template_of_the_users_is_an_error_at_its_line(tmp_path: Path, tail: str, says: str) -> None:
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT)
    write(tmp_path / "tpl" / "config.yaml.j2", SHIPPED + tail)
    line = SHIPPED.count("\n") + 1
    for command in (["render", exp, "--out", tmp_path / "o"], ["check", exp, "--against", tmp_path]):
        result = run_cli(*command, "--templates", tmp_path / "tpl")
        assert result.code == 1 and "Traceback" not in result.err, result.err
        assert f"tpl/config.yaml.j2:{line}:1: {says}" in result.err
    assert not (tmp_path / "o").exists()


def test_a_template_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT)
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "config.yaml.j2").write_bytes(b"\xff\xfe{{ body }}")
    result = run_cli("render", exp, "--out", tmp_path / "o", "--templates", tmp_path / "tpl")
    assert result.code == 1 and "Traceback" not in result.err
    assert "template 'config.yaml.j2' is not valid UTF-8 (byte 0xff)" in result.err


@pytest.mark.parametrize("out", ["x" * 300, "/".join(["y" * 200] * 25)])
@pytest.mark.parametrize("extra", [(), ("--dry-run",), ("--force",)])
def test_an_output_path_too_long_for_the_file_system_is_an_error(tmp_path: Path, out: str, extra: tuple[str, ...]) -> None:
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT)
    result = run_cli("render", exp, "--out", out, *extra, cwd=tmp_path)
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert "the output folder's path is too long for the file system" in result.err
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.yaml"]


def test_folders_are_compared_normalised_and_an_auto_folder_cannot_equal_another_runs(tmp_path: Path) -> None:
    """/x and /x/ are one folder (shared: each run gets its own); an automatic <dir>/<run_id> that is
    another run's own output_dir is an error, not two runs training into one folder."""
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT + "variables:\n  output_dir: [/x, /x/]\n")
    result = run_cli("render", exp, "--dry-run", "--json")
    assert result.code == 0, result.err
    assert [r["output_dir"] for r in json.loads(result.out)["runs"]] == ["/x/run_000", "/x/run_001"]
    clash = write(tmp_path / "clash.yaml", EXPERIMENT + "variables:\n  seed: [1, 2, 3]\ncontrols:\n"
                  "  output_dir: \"{{ '/a' if run_index < 2 else '/a/run_001' }}\"\n")
    result = run_cli("render", clash, "--dry-run")
    assert result.code == 1 and "Traceback" not in result.err
    assert "2 runs would write to the same folder /a/run_001 through output_dir (run_001, run_002)" in result.err


# --- --force replaces only what ttgen wrote, never what anything reads -----------------------------

def _forced(tmp_path: Path, out: Path, body: str = "", *extra: str) -> str:
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT + body)
    result = run_cli("render", exp, "--out", out, "--force", *extra, cwd=tmp_path)
    assert result.code == 1 and "Traceback" not in result.err, result.err
    return result.err


def test_force_refuses_a_folder_ttgen_did_not_render(tmp_path: Path) -> None:
    papers = write(tmp_path / "papers" / "draft.tex", "months of work").parent
    err = _forced(tmp_path, papers)
    assert "which ttgen did not render" in err and (papers / "draft.tex").read_text() == "months of work"


def test_force_refuses_the_folder_of_earlier_renders(tmp_path: Path) -> None:
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT)
    assert run_cli("render", exp, cwd=tmp_path).code == 0  # outputs/t_<timestamp>/
    (earlier,) = (tmp_path / "outputs").iterdir()
    err = _forced(tmp_path, tmp_path / "outputs")
    assert "which ttgen did not render" in err and (earlier / "manifest.yaml").is_file()


def test_force_refuses_a_folder_the_configs_read_from(tmp_path: Path) -> None:
    data = write(tmp_path / "data" / "train.json", "[]").parent
    err = _forced(tmp_path, data, f"controls: {{dataset.data_files: {data}/train.json}}\n")
    assert "which holds the dataset.data_files of the configs" in err and (data / "train.json").exists()
    model = write(tmp_path / "model" / "model.safetensors", "weights").parent
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT + f"controls: {{checkpointer.checkpoint_dir: {model}}}\n")
    assert run_cli("render", exp, "--out", model / "render").code == 0  # a new folder inside: nothing deleted
    err = _forced(tmp_path, model / "render", f"controls: {{checkpointer.checkpoint_dir: {model}}}\n")
    assert "which is inside the checkpointer.checkpoint_dir of the configs" in err
    templates = write(tmp_path / "tpl" / "config.yaml.j2", SHIPPED).parent
    err = _forced(tmp_path, templates, "", "--templates", str(templates))
    assert "which is the template folder" in err and (templates / "config.yaml.j2").exists()


def test_force_still_replaces_an_earlier_render_and_an_empty_folder(tmp_path: Path) -> None:
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT)
    (tmp_path / "empty").mkdir()
    assert run_cli("render", exp, "--out", tmp_path / "empty", "--force").code == 0
    assert run_cli("render", exp, "--out", tmp_path / "empty", "--force").code == 0  # now an earlier render
    assert (tmp_path / "empty" / "manifest.yaml").is_file()


def test_jinja2_with_the_known_sandbox_escape_is_not_accepted() -> None:
    """jinja2 3.1.5 let a derived value read the process environment; 3.1.6 fixed it."""
    import importlib.metadata
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert [d.split("#")[0].strip() for d in deps if d.startswith("jinja2")] == ["jinja2>=3.1.6"]
    installed = tuple(int(p) for p in importlib.metadata.version("jinja2").split(".")[:3])
    assert installed >= (3, 1, 6)


def test_renders_in_the_same_second_take_their_own_default_folders(tmp_path: Path) -> None:
    """The default name is taken atomically: a name taken since planning gives the next one, never a failure."""
    import datetime as dt

    from ttgen.render.output import render_experiment

    exp = write(tmp_path / "experiment.yaml", EXPERIMENT + "variables: {lora_rank: [8, 16]}\n")
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    first = render_experiment(exp, now=now)
    second = render_experiment(exp, now=now)
    assert second.output_dir == first.output_dir.with_name(first.output_dir.name + "_2")
    # A name taken between planning and writing (another render starting): this one moves on, and its
    # runs' folders follow it.
    from ttgen.render import folder as folder_module

    real = folder_module.reserve_folder

    def taken_meanwhile(first_choice: Path) -> Path:
        first_choice.mkdir()  # someone else's render took it
        return real(first_choice)

    import pytest as _pytest

    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr("ttgen.render.output.reserve_folder", taken_meanwhile)
        third = render_experiment(exp, now=now)
    assert third.output_dir.name.endswith("_4")
    config = (third.output_dir / "configs" / "run_001.yaml").read_text(encoding="utf-8")
    assert f"output_dir: {third.output_dir}/runs/run_001" in config


def test_a_failed_default_render_gives_its_folder_name_back(tmp_path: Path) -> None:
    exp = write(tmp_path / "experiment.yaml", EXPERIMENT)
    write(tmp_path / "tpl" / "config.yaml.j2", "{{ 1 // 0 }}\n")
    result = run_cli("render", exp, "--templates", tmp_path / "tpl", cwd=tmp_path)
    assert result.code == 1
    assert not (tmp_path / "outputs").exists() or list((tmp_path / "outputs").iterdir()) == []
