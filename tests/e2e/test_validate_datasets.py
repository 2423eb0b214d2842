"""Level 2 of ``ttgen validate`` on datasets: the keys a builder passes on to ``load_dataset``, and data files.

torchtune's dataset builders hand every key they do not name to Hugging Face's
``load_dataset(source, ...)`` (issue 21): a misspelt ``data_file``, a ``column_map`` left on
``chat_dataset``, a ``delimeter`` for csv passed every level and crashed the job at start.
Each test writes config files and runs the real command (``ttgen validate --level 2 FILE``,
once ``ttgen render --validate``), with the real torchtune 0.6.1 and ``datasets``.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from helpers import problem_block, run_cli, write
from test_validate import run_python

pytestmark = pytest.mark.needs_torch

PROBLEM_LINE = re.compile(r"(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<rest>.*)")


def problems(err: str) -> list[re.Match[str]]:
    """The problem lines of stderr (not hints, notes or the closing count)."""
    return [m for m in map(PROBLEM_LINE.fullmatch, err.splitlines()) if m]


def config(folder: Path, name: str, dataset: str) -> Path:
    """A config file holding *dataset* (YAML, indented as the value of ``dataset:``)."""
    return write(folder / name, "output_dir: /tmp/ttgen_test_out\ndataset:\n" + textwrap.indent(
        textwrap.dedent(dataset).strip("\n"), "  ") + "\n")


def at(path: Path, match: re.Match[str]) -> str:
    """The text of *path* from a problem's line and column on."""
    line = path.read_text().splitlines()[int(match["line"]) - 1]
    return line[int(match["col"]) - 1:]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A folder with a small JSON and a CSV data file."""
    folder = tmp_path / "data"
    write(folder / "tickets.json", json.dumps([{"instruction": "a", "input": "", "output": "b"}]))
    write(folder / "part-1.csv", "text\nhello\n")
    return folder


def test_misspelt_data_files_is_an_error_at_the_key(tmp_path: Path) -> None:
    cfg = config(tmp_path, "run_000.yaml", """
        _component_: torchtune.datasets.instruct_dataset
        source: json
        data_file: /x.json
        split: train
    """)
    result = run_cli("validate", "--level", "2", cfg)
    assert result.code == 1, result.err
    [problem] = problems(result.err)
    assert problem["file"] == str(cfg)
    assert problem["rest"] == ("run_000: dataset.data_file: data_file is not a parameter of "
                               "torchtune.datasets.instruct_dataset; it would be passed to load_dataset('json'), "
                               "which does not take it")
    assert at(cfg, problem).startswith("data_file: /x.json")  # the key, where the fix goes
    block = problem_block(result.err, str(cfg))
    assert block[1].startswith("    hint: did you mean data_files") and "remove data_file" in block[1]
    assert "1 config checked at level 2" in result.out and "1 error" in result.out

    doc = json.loads(run_cli("validate", "--level", "2", "--json", cfg).out)
    [error] = doc["errors"]
    assert (error["path"], error["level"], error["severity"]) == ("dataset.data_file", 2, "error")


def test_column_map_on_chat_dataset_is_named_with_its_replacement(tmp_path: Path, data: Path) -> None:
    """A column_map left over after swapping instruct_dataset for chat_dataset."""
    cfg = config(tmp_path, "run_000.yaml", f"""
        _component_: torchtune.datasets.chat_dataset
        source: json
        data_files: {data / "tickets.json"}
        conversation_style: openai
        column_map: {{input: question, output: answer}}
        split: train
    """)
    result = run_cli("validate", "--level", "2", cfg)
    assert result.code == 1, result.err
    [problem] = problems(result.err)
    assert problem["rest"] == ("run_000: dataset.column_map: column_map is not a parameter of "
                               "torchtune.datasets.chat_dataset; it would be passed to load_dataset('json'), "
                               "which does not take it")
    assert at(cfg, problem).startswith("column_map:")
    hint = problem_block(result.err, str(cfg))[1]
    assert "did you mean conversation_column?" in hint and "remove column_map" in hint


def test_csv_options_inside_a_list_and_concat_dataset(tmp_path: Path, data: Path) -> None:
    """Every dataset is checked: in a list of datasets and inside ConcatDataset, against its own source."""
    cfg = config(tmp_path, "run_000.yaml", f"""
        - _component_: torchtune.datasets.instruct_dataset
          source: json
          data_files: {data / "tickets.json"}
          field: rows
          split: train
        - _component_: torchtune.datasets.ConcatDataset
          datasets:
            - _component_: torchtune.datasets.text_completion_dataset
              source: csv
              data_files: {data / "part-1.csv"}
              delimeter: ";"
              column: text
            - _component_: torchtune.datasets.text_completion_dataset
              source: csv
              data_files: {data / "part-1.csv"}
              delimiter: ";"
    """)
    result = run_cli("validate", "--level", "2", cfg)
    assert result.code == 1, result.err
    # json's `field` is a JsonConfig option and csv's `delimiter` a CsvConfig one: only the typo is reported.
    [problem] = problems(result.err)
    assert problem["rest"].startswith("run_000: dataset[1].datasets[0].delimeter: delimeter is not a parameter of "
                                      "torchtune.datasets.text_completion_dataset; it would be passed to "
                                      "load_dataset('csv')")
    assert at(cfg, problem).startswith('delimeter: ";"')
    assert "did you mean delimiter?" in problem_block(result.err, str(cfg))[1]


def test_valid_datasets_pass_without_a_finding(tmp_path: Path, data: Path) -> None:
    """No false alarm: load_dataset's own parameters, the builder's options, every form of data_files."""
    good = config(tmp_path, "run_000.yaml", f"""
        - _component_: torchtune.datasets.instruct_dataset
          source: json
          data_files: {data / "tickets.json"}
          split: train
        - _component_: torchtune.datasets.instruct_dataset
          source: json
          data_files: [{data / "tickets.json"}]
          split: train
          streaming: false
          encoding: utf-8
          column_map: {{input: question}}
        - _component_: torchtune.datasets.text_completion_dataset
          source: csv
          data_files: {{train: "{data}/part-*.csv"}}
          sep: ","
        - _component_: torchtune.datasets.text_completion_dataset
          source: text
          data_dir: {data}
          data_files: part-1.csv
    """)
    result = run_cli("validate", "--level", "2", good)
    assert result.code == 0, result.err
    assert result.err == "" and "1 config checked at level 2" in result.out and "all passed" in result.out
    # Relative data_files are looked up from the current folder.
    relative = config(tmp_path, "run_001.yaml", """
        _component_: torchtune.datasets.instruct_dataset
        source: json
        data_files: data/tickets.json
        split: train
    """)
    assert run_cli("validate", "--level", "2", relative, cwd=tmp_path).err == ""
    # The same dataset with its one typo fails.
    typo = write(tmp_path / "run_002.yaml", good.read_text().replace("sep:", "seperator:", 1))
    assert run_cli("validate", "--level", "2", typo).code == 1


def test_missing_data_files_are_warnings_naming_the_path(tmp_path: Path, data: Path) -> None:
    """The cluster may mount data this machine has not: a warning, and the run passes."""
    cfg = config(tmp_path, "run_000.yaml", f"""
        - _component_: torchtune.datasets.instruct_dataset
          source: json
          data_files: /scratch/ttgen-surely-missing/tickets.json
          split: train
        - _component_: torchtune.datasets.text_completion_dataset
          source: csv
          data_files:
            - {data / "part-1.csv"}
            - "{data}/nothing-*.csv"
            - missing/relative.csv
            - hf://datasets/someone/something/train.csv
            - https://example.com/train.csv
            - ${{oc.env:HOME}}/train.csv
    """)
    result = run_cli("validate", "--level", "2", cfg, cwd=tmp_path)
    assert result.code == 0, result.err
    found = [(m["rest"], at(cfg, m)) for m in problems(result.err)]
    assert found == [
        ("run_000: dataset[0].data_files: warning: data_files path '/scratch/ttgen-surely-missing/tickets.json' "
         "does not exist on this machine", "/scratch/ttgen-surely-missing/tickets.json"),
        (f"run_000: dataset[1].data_files[1]: warning: data_files pattern '{data}/nothing-*.csv' matches no file "
         "on this machine", f'"{data}/nothing-*.csv"'),
        ("run_000: dataset[1].data_files[2]: warning: data_files path 'missing/relative.csv' does not exist on "
         "this machine (looked up from the current folder)", "missing/relative.csv"),
    ]  # URLs, Hub paths and interpolations are not looked for
    assert "1 config checked at level 2" in result.out and "3 warnings" in result.out
    assert "hint: fine if the cluster has it there" in result.err
    assert "a relative path is read from the job's working folder" in result.err


def test_hub_sources_are_not_checked(tmp_path: Path) -> None:
    """Checking a Hub dataset's options would need the network: the same typo is reported for json only."""
    cfg = config(tmp_path, "run_000.yaml", """
        - _component_: torchtune.datasets.instruct_dataset
          source: yahma/alpaca-cleaned
          data_file: train.json
        - _component_: torchtune.datasets.alpaca_cleaned_dataset
          data_file: train.json
        - _component_: torchtune.datasets.instruct_dataset
          source: json
          data_file: train.json
    """)
    result = run_cli("validate", "--level", "2", cfg)
    assert result.code == 1
    assert [m["rest"].split(": ")[1] for m in problems(result.err)] == ["dataset[2].data_file"]


def test_packaged_builders_come_from_datasets() -> None:
    from ttgen.validate.datasets import PackagedBuilders

    builders = PackagedBuilders()
    assert {"json", "csv", "parquet", "text", "arrow", "pandas", "webdataset", "imagefolder",
            "audiofolder"} <= set(builders.names())
    json_options = builders.options("json")
    assert json_options is not None and json_options.config_class == "JsonConfig"
    assert json_options.accepts("field") and json_options.accepts("data_files") and json_options.accepts("split")
    assert not json_options.accepts("data_file") and builders.options("yahma/alpaca-cleaned") is None


def test_without_the_packaged_builders_the_checks_are_skipped(tmp_path: Path) -> None:
    """A datasets without its table of packaged builders: no check, and no error about it."""
    cfg = config(tmp_path, "run_000.yaml", """
        _component_: torchtune.datasets.instruct_dataset
        source: json
        data_file: /x.json
    """)
    proc = run_python(f"""
        import logging, sys
        logging.disable(logging.WARNING)  # torchao's "no triton" warning at import
        import torchtune.datasets  # imports datasets, as the job would
        sys.modules["datasets.packaged_modules"] = None  # now `import datasets.packaged_modules` fails
        from ttgen.cli import main
        sys.exit(main(["validate", "--level", "2", {str(cfg)!r}]))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "all passed" in proc.stdout


def test_level1_does_not_import_datasets(tmp_path: Path) -> None:
    cfg = config(tmp_path, "run_000.yaml", """
        _component_: torchtune.datasets.instruct_dataset
        source: json
        data_file: /x.json
    """)
    proc = run_python(f"""
        import sys
        from ttgen.cli import main
        rc = main(["validate", "--level", "1", {str(cfg)!r}])
        print(rc, sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchtune", "datasets")))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 []"


def test_render_validate_reports_the_misspelt_option(tmp_path: Path) -> None:
    experiment = write(tmp_path / "experiment.yaml", textwrap.dedent("""
        experiment: {name: dataset_typo, framework: torchtune}
        framework_config: {base_config: llama3_2/1B_lora_single_device}
        delete: [dataset, profiler]
        variables:
          learning_rate: [1e-4, 3e-4]
        controls:
          +dataset:
            _component_: torchtune.datasets.instruct_dataset
            source: json
            data_file: /x.json
            split: train
    """))
    out = tmp_path / "o"
    result = run_cli("render", experiment, "--out", out, "--validate")
    assert result.code == 1
    assert "Validation FAILED" in result.out
    report = (out / "validation_report.txt").read_text()
    assert "dataset.data_file: data_file is not a parameter of torchtune.datasets.instruct_dataset" in report
    assert "did you mean data_files" in report
