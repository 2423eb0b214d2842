"""`ttgen results` and `ttgen report` on a sweep whose logs come from real `tune run` runs.

tests/data/results_sweep holds a rendered 3 x 2 sweep (lora_rank x seed) of the tiny CPU
model and what its runs wrote (make_fixture.py there trains it again): four runs finished,
one was killed after its first epoch (UNFINISHED), one never started. The tables are golden
files; every value is also checked against the log lines themselves.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest

from helpers import REPO, assert_clean_failure, run_cli
from snapshot_yaml import text_extension

FIXTURE = REPO / "tests" / "data" / "results_sweep"
LINE = re.compile(r"^Step (\d+) \| (.*)$", re.M)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A copy of the fixture (results writes its cache into the folder); returns the folder
    `tune run` ran in, which holds folder/ (the output folder) and train/ (the runs' outputs)."""
    for part in ("folder", "train"):
        shutil.copytree(FIXTURE / part, tmp_path / part)
    return tmp_path


def logged(path: Path) -> dict[str, list[float]]:
    """Each metric's values in one log, read here independently of ttgen."""
    values: dict[str, list[float]] = {}
    for _, rest in LINE.findall(path.read_text(encoding="utf-8")):
        for item in rest.split():
            name, _, text = item.partition(":")
            values.setdefault(name, []).append(float(text))
    return values


def results_json(sweep: Path, *args: str) -> dict:
    result = run_cli("results", "folder", "--json", *args, cwd=sweep)
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize("args", [["--markdown"], ["--csv"], ["--markdown", "--metric", "loss"],
                                  ["--by", "lora_rank", "--markdown"], ["--by", "seed", "--csv"], []],
                         ids=["markdown", "csv", "markdown-loss", "by-rank", "by-seed", "terminal"])
def test_tables_are_golden(sweep: Path, args: list[str], snapshot) -> None:
    result = run_cli("results", "folder", *args, cwd=sweep)
    assert result.code == 0, result.err
    assert result.err == ""
    ext = "csv" if "--csv" in args else "md" if "--markdown" in args else "txt"
    assert result.out == snapshot(extension_class=text_extension(ext))


def test_json_is_golden_and_every_run_is_listed(sweep: Path, snapshot) -> None:
    doc = results_json(sweep)
    text = json.dumps(doc, indent=2, sort_keys=True).replace(str(sweep), "<sweep>")
    assert text + "\n" == snapshot(extension_class=text_extension("json"))
    assert [r["run_id"] for r in doc["runs"]] == [f"run_{i:03d}" for i in range(6)]
    assert [r["state"] for r in doc["runs"]] == ["COMPLETED"] * 4 + ["UNFINISHED", "NOT_SUBMITTED"]
    assert doc["runs"][5]["metrics"] == {} and doc["runs"][5]["steps"] is None
    assert [len(r["checkpoints"]) for r in doc["runs"]] == [2, 2, 2, 2, 1, 0]
    assert doc["design"]["question"] == "How does LoRA rank affect the loss of a tiny model?"
    assert doc["design"]["variables"] == {"lora_rank": [4, 8, 16], "seed": [0, 1]}


def test_values_are_the_logs_values(sweep: Path) -> None:
    doc = results_json(sweep)
    for run in doc["runs"][:5]:
        (log,) = run["metric_logs"]
        values = logged(Path(log))
        assert run["steps"] == len(values["loss"])
        assert set(run["metrics"]) == set(values) == {"loss", "lr", "tokens_per_second_per_gpu"}
        for name, series in values.items():
            m = run["metrics"][name]
            assert (m["final"], m["min"], m["max"], m["count"]) == (series[-1], min(series), max(series), len(series))
        assert run["metrics"]["loss"]["best"] == min(values["loss"])
        assert run["metrics"]["tokens_per_second_per_gpu"]["best"] == max(values["tokens_per_second_per_gpu"])
        assert run["metrics"]["lr"]["best"] is None  # no direction: never a "best" learning rate
        assert all(Path(c).name.startswith("epoch_") and Path(c).is_dir() for c in run["checkpoints"])


def test_by_groups_with_mean_std_and_count(sweep: Path) -> None:
    doc = results_json(sweep, "--by", "lora_rank")
    finals = {r["run_id"]: r["metrics"].get("loss", {}).get("final") for r in doc["runs"]}
    groups = {g["value"]: g for g in doc["groups"]}
    assert list(groups) == [4, 8, 16]
    for value, runs in ((4, ["run_000", "run_001"]), (8, ["run_002", "run_003"])):
        stats = groups[value]["stats"]["loss"]
        assert groups[value]["runs"] == runs
        assert stats["mean"] == pytest.approx(statistics.fmean(finals[r] for r in runs))
        assert stats["std"] == pytest.approx(statistics.stdev(finals[r] for r in runs))
        assert stats["n"] == 2
    # rank 16: one run has a value, the other never started: counted in runs, not in n.
    assert groups[16]["runs"] == ["run_004", "run_005"]
    assert groups[16]["stats"]["loss"] == {"mean": finals["run_004"], "std": None, "n": 1}


def test_unknown_variable_or_metric_is_a_clear_error(sweep: Path) -> None:
    result = run_cli("results", "folder", "--by", "rank", cwd=sweep)
    assert result.code == 1 and "Traceback" not in result.err
    assert "--by rank: not a variable of this experiment" in result.err and "did you mean lora_rank?" in result.err
    result = run_cli("results", "folder", "--metric", "los", cwd=sweep)
    assert result.code == 1 and "did you mean loss?" in result.err
    result = run_cli("report", "folder", "--colour-by", "sed", cwd=sweep)
    assert result.code == 1 and "did you mean seed?" in result.err
    assert not (sweep / "folder" / "results" / "report.html").exists()


def test_not_an_output_folder(tmp_path: Path) -> None:
    result = run_cli("results", tmp_path)
    assert result.code == 1 and "Traceback" not in result.err and "run_mapping.yaml" in result.err


def test_cache_is_used_and_a_grown_log_is_read_again(sweep: Path) -> None:
    from ttgen.results import collect

    first = collect.collect_results(sweep / "folder", workdir=sweep)
    cached = sorted(p.name for p in (sweep / "folder" / "results" / "cache").iterdir())
    assert cached == [f"run_{i:03d}.json" for i in range(5)]  # run_005 has no log
    # A second look reads the cache: with the log parser broken, the values are still there.
    calls: list[Path] = []
    original = collect.summarize_log
    collect.summarize_log = lambda path: calls.append(path) or original(path)  # type: ignore[assignment]
    try:
        again = collect.collect_results(sweep / "folder", workdir=sweep)
        assert calls == []
        assert again.to_dicts() == first.to_dicts()
        # run_004 resumes and logs one more step: its log is read again, the others are not.
        (log,) = (sweep / "train" / "run_004" / "logs").iterdir()
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("Step 6 | loss:5.25 lr:0.0 tokens_per_second_per_gpu:1000.0 \n")
        grown = collect.collect_results(sweep / "folder", workdir=sweep)
        assert calls == [log]
        run = grown.runs[4]
        assert (run.steps, run.final("loss"), run.best("loss")) == (6, 5.25, 5.25)
    finally:
        collect.summarize_log = original  # type: ignore[assignment]


def test_a_folder_that_cannot_hold_the_cache_still_gives_results(sweep: Path) -> None:
    (sweep / "folder" / "results").write_text("not a folder", encoding="utf-8")
    result = run_cli("results", "folder", "--csv", cwd=sweep)
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 7


def test_records_as_dicts_and_dataframe(sweep: Path) -> None:
    import pandas as pd

    from ttgen import collect_results

    results = collect_results(sweep / "folder", workdir=sweep)
    frame = results.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["run_id"]) == [f"run_{i:03d}" for i in range(6)]
    assert list(frame.columns[:6]) == ["run_id", "lora_rank", "seed", "state", "steps", "elapsed_seconds"]
    assert frame.loc[0, "loss"] == results.runs[0].final("loss")
    assert math.isnan(frame.loc[5, "loss"])
    records = results.to_dicts()
    assert records[0]["variables"] == {"lora_rank": 4, "seed": 0}
    json.dumps(records)  # plain data


def test_report_is_self_contained_and_deterministic(sweep: Path) -> None:
    result = run_cli("report", "folder", cwd=sweep)
    assert result.code == 0, result.err
    assert result.out.strip() == "Wrote folder/results/report.html"
    html = (sweep / "folder" / "results" / "report.html").read_text(encoding="utf-8")
    assert re.findall(r"""(?:src|href)=["'](?!data:|#)""", html) == []  # nothing loaded from elsewhere
    assert html.count('<img alt="') == 5  # curves; final and best loss against each of 2 variables
    assert html.count("<tr>") - html.count("<thead><tr>") >= 6
    assert "How does LoRA rank affect the loss of a tiny model?" in html
    assert "A higher rank lowers the loss slightly; seeds spread it." in html
    again = run_cli("report", "folder", "--out", sweep / "again.html", cwd=sweep)
    assert again.code == 0, again.err
    assert (sweep / "again.html").read_text(encoding="utf-8") == html
    # The unfinished run is listed with its log, for the researcher to open.
    failed = html[html.index('id="failed"'):]
    assert "run_004" in failed and "UNFINISHED" in failed and "log_" in failed


def test_report_into_a_folder_is_refused(sweep: Path) -> None:
    result = run_cli("report", "folder", "--out", sweep, cwd=sweep)
    assert result.code == 1 and "is a folder" in result.err and "Traceback" not in result.err


def synthetic(ranks: int, lrs: int, seeds: int, *, scores: bool = False):
    """Results of a ranks x lrs x seeds sweep made in code (no logs): for the report's layout."""
    from ttgen.results.collect import Design, RunResult, SweepResults
    from ttgen.results.logs import MetricSummary

    runs = []
    for i, (r, lr, seed) in enumerate((r, lr, s) for r in range(ranks) for lr in range(lrs) for s in range(seeds)):
        curve = [(step, 3.0 - step * 0.01 * (r + 1) + seed * 0.001) for step in range(1, 51)]
        run = RunResult(f"run_{i:03d}", {"lora_rank": 4 * 2 ** r, "lr": [1e-4, 3e-4, 1e-3][lr % 3] * (1 + lr // 3),
                                         "seed": seed}, "COMPLETED", steps=50, curve=curve)
        run.metrics["loss"] = MetricSummary(final=curve[-1][1], final_step=50, min=curve[-1][1], max=3.0, count=50)
        if scores:
            run.scores["tiny_qa/accuracy"] = 0.1 * r + 0.01 * seed
        runs.append(run)
    variables = {"lora_rank": [4 * 2 ** r for r in range(ranks)], "lr": sorted({r.variables["lr"] for r in runs}),
                 "seed": list(range(seeds))}
    return SweepResults(folder=Path("/x"), design=Design(name="synthetic", variables=variables), runs=runs)


def test_report_panels_stay_readable_for_big_sweeps() -> None:
    from ttgen.results.plots import MAX_PANELS, loss_curves

    small = loss_curves(synthetic(2, 2, 2))
    assert small is not None and "one panel per lr, seed" in small.caption
    big = loss_curves(synthetic(3, 4, 10))  # 40 combinations of lr x seed: one panel per lr instead
    assert big is not None and "one panel per lr, the other variables drawn together" in big.caption
    many_colours = loss_curves(synthetic(12, 1, 1))  # 12 ranks: a colour bar instead of a legend
    assert many_colours is not None and many_colours.png.startswith(b"\x89PNG")
    huge = loss_curves(synthetic(2, MAX_PANELS + 3, 2))  # even one panel per lr is too many
    assert huge is not None and "all runs drawn in one panel" in huge.caption


def test_report_shows_scores_when_evaluations_ran() -> None:
    from ttgen.results.report import build_report

    html = build_report(synthetic(2, 1, 2, scores=True))
    assert 'id="scores"' in html and "<th>tiny_qa/accuracy</th>" in html
    # curves + (final, best) loss x 3 variables + the score against 3 variables
    assert html.count('<img alt="') == 1 + 6 + 3
    assert 'id="scores"' not in build_report(synthetic(2, 1, 2))


def test_report_of_a_sweep_that_has_not_run() -> None:
    from ttgen.results.collect import Design, RunResult, SweepResults
    from ttgen.results.report import build_report

    results = SweepResults(folder=Path("/x"), design=Design(name="fresh", question="Does it?"),
                           runs=[RunResult("run_000", {"seed": 0}, "NOT_SUBMITTED")])
    html = build_report(results)
    assert "<img" not in html and "Does it?" in html and "1 NOT_SUBMITTED" in html
