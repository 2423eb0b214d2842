"""The report as a person sees it: opened in a real headless Chromium (Debian's, through
selenium and chromedriver). No console errors, every image decoded, one table row per run;
a screenshot is kept as a test artifact (``$TTGEN_ARTIFACTS``, default tests/artifacts/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import REPO, require, run_cli

FIXTURE = REPO / "tests" / "data" / "results_sweep"
ARTIFACTS = Path(os.environ.get("TTGEN_ARTIFACTS", REPO / "tests" / "artifacts"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    chromium = require("chromium", "TTGEN_REQUIRE_BROWSER", "apt-get install chromium chromium-driver")
    driver_path = require("chromedriver", "TTGEN_REQUIRE_BROWSER", "apt-get install chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_opens_cleanly_in_chromium(browser, tmp_path: Path) -> None:
    for part in ("folder", "train"):
        shutil.copytree(FIXTURE / part, tmp_path / part)
    result = run_cli("report", "folder", cwd=tmp_path)
    assert result.code == 0, result.err
    report = tmp_path / "folder" / "results" / "report.html"

    browser.get(report.as_uri())
    assert browser.title == "results_fixture: results"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(images) == 5, images
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, f"image {alt!r} did not decode"
    rows = browser.execute_script("return Array.from(document.querySelectorAll('#runs tbody tr'))"
                                  ".map(r => r.cells[0].textContent)")
    assert rows == [f"run_{i:03d}" for i in range(6)]
    failed = browser.execute_script("return Array.from(document.querySelectorAll('#failed-runs tbody tr'))"
                                    ".map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent)")
    assert failed == ["run_004 UNFINISHED"]
    # Nothing went wrong in the page: no script errors, no failed loads.
    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == []
    # The page fits a laptop screen's width: no horizontal scrolling of the page itself.
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")

    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, height + 40)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
