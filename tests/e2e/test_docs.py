"""The README stays true: its alias table is the package's, its test command is CI's."""

from __future__ import annotations

import re

import yaml

from helpers import REPO


def test_readme_alias_table_matches_aliases_yaml() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", readme, flags=re.M))
    aliases = yaml.safe_load((REPO / "generator" / "ttgen" / "aliases.yaml").read_text(encoding="utf-8"))
    assert rows == aliases


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) == 2, "the README has exactly two set-up commands"
    test_command = blocks[1].strip()
    assert "pytest" in test_command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci
