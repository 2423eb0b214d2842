"""docs/python.md is a notebook session: every example in it runs here and gives the output shown."""

from __future__ import annotations

import doctest
import re
import shutil
from pathlib import Path

import pytest

from helpers import REPO


def test_the_notebook_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "examples" / "lora_rank_sweep", tmp_path / "lora_rank_sweep",
                    ignore=shutil.ignore_patterns("outputs"))
    for part in ("folder", "train"):
        shutil.copytree(REPO / "tests" / "data" / "results_sweep" / part, tmp_path / "results_sweep" / part)
    monkeypatch.chdir(tmp_path)
    page = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```pycon\n(.*?)^```$", page, re.M | re.S)
    assert len(blocks) >= 6
    # One session: the blocks in order, each ending its last output at the block's end.
    test = doctest.DocTestParser().get_doctest("\n\n".join(blocks), {}, "docs/python.md", str(REPO / "docs/python.md"), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 20
    assert result.failed == 0, "an example of docs/python.md does not give the output shown (see above)"
    assert (tmp_path / "report.html").is_file() and (tmp_path / "outputs" / "study" / "configs").is_dir()
