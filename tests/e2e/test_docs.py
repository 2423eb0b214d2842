"""The documentation stays true: the site builds strictly, the README stays short and runnable,
the pages the code cites exist, and the alias table is the package's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO

DOCS = REPO / "docs"
README_LIMIT = 10 * 1024


def test_readme_is_short_and_has_the_two_set_up_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= README_LIMIT, "the README is an entry page: details go to docs/"
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) == 2, "the README has exactly two set-up commands"
    assert "ttgen render examples/" in blocks[0]
    test_command = blocks[1].strip()
    assert "pytest" in test_command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci, ".ci/run runs the README's test command verbatim"


def test_alias_table_matches_aliases_yaml() -> None:
    page = (DOCS / "experiment.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", page, flags=re.M))
    aliases = yaml.safe_load((REPO / "generator" / "ttgen" / "aliases.yaml").read_text(encoding="utf-8"))
    assert rows == aliases


def _cited() -> set[tuple[str, str]]:
    """(file citing, docs page or 'contract.md §N') for every docs/ reference in code and templates."""
    found: set[tuple[str, str]] = set()
    for path in [*(REPO / "generator").rglob("*.py"), *(REPO / "templates").glob("*.j2"),
                 *(REPO / "generator").rglob("*.yaml"), *(REPO / "tests").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for page, section in re.findall(r"docs/([a-z0-9_/-]+\.md)(?: §(\d+))?", text):
            found.add((str(path.relative_to(REPO)), page + (f" §{section}" if section else "")))
    return found


def test_pages_the_code_cites_exist() -> None:
    cited = _cited()
    assert any(ref.startswith("contract.md §") for _, ref in cited), "the code cites the contract"
    sections = set(re.findall(r"^## (\d+)\.", (DOCS / "contract.md").read_text(encoding="utf-8"), flags=re.M))
    missing = []
    for where, ref in sorted(cited):
        page, _, section = ref.partition(" §")
        if not (DOCS / page).is_file() or (section and section not in sections):
            missing.append(f"{where}: docs/{ref}")
    assert missing == []


def test_readme_links_point_at_pages_that_exist() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((?!https?://|#)([^)#]+)", readme)
    assert links, "the README links into docs/"
    assert [link for link in links if not (REPO / link).exists()] == []


@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    """A broken link, a stale API name or a bad docstring reference fails the build."""
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("render_experiment", "plan_experiment", "diff_runs", "check_experiment", "validate_configs",
                 "Problem", "RunLookupError"):
        assert name in api, f"the API reference documents {name}"
