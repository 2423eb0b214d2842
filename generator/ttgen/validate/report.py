"""The findings of ``ttgen validate``: the verdict on each config, and the report of a whole check.

A validation problem is a `Problem` that belongs to one config of a sweep, so
besides the usual position, dotted path and hint it names the run and the
level that found it: lines read
``file:line:col: run_001: model.lora_rnak: message``. The report text is
deterministic (no timings, no absolute temporary paths) because
``render --validate`` writes it into the output folder, whose files are hashed
into the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from ..errors import Problem
from ..text import plural

LEVEL_TEXT = {
    1: "level 1 (loads with OmegaConf, interpolations resolve, _component_ names, types of well-known keys)",
    2: "level 2 (level 1, and every _component_ imported and its keyword arguments bound to its signature)",
}


def group_findings(problems: Iterable[Problem]) -> list[Problem]:
    """The same finding in many runs, once: with ``runs`` naming them all (in the order found).

    Two findings are the same when they differ only in their run: same severity, level, path,
    line and column, and the same message and hint once the run's own id is taken out (an
    output_dir ending in run_003 is the same mistake in every run).

    Examples:
        >>> a = Problem("got 1.5", path="epochs", run_id="run_000", level=1)
        >>> b = Problem("got 1.5", path="epochs", run_id="run_001", level=1)
        >>> [p.runs for p in group_findings([a, b])]
        [('run_000', 'run_001')]
    """
    groups: dict[tuple[Any, ...], list[Problem]] = {}
    for p in problems:
        run = p.run_id or "\0"

        def generic(text: str | None) -> str:
            return (text or "").replace(run, "\0")

        key = (p.severity, p.level, p.path, p.pos.line if p.pos else 0, p.pos.col if p.pos else 0,
               generic(p.message), generic(p.hint))
        groups.setdefault(key, []).append(p)
    out = []
    for members in groups.values():
        runs = tuple(m.run_id for m in members if m.run_id)
        out.append(replace(members[0], runs=runs) if len(runs) > 1 else members[0])
    return out


@dataclass(frozen=True)
class ConfigResult:
    """The verdict on one config file."""

    run_id: str
    file: str  # as displayed in messages
    issues: tuple[Problem, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ValidationReport:
    """Everything one validation found, over all configs checked.

    Examples:
        >>> from ttgen import find_configs, validate_configs
        >>> report = validate_configs(find_configs(["tests/data/results_sweep/folder"]), level=1)
        >>> report.ok, report.level, len(report.results)
        (True, 1, 6)
    """

    level: int
    torchtune_version: str | None = None
    level2_unavailable: str | None = None  # why level 2 did not run, when it was not asked for explicitly
    results: list[ConfigResult] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # distinct _component_ names imported (level 2)

    @property
    def issues(self) -> list[Problem]:
        return [i for r in self.results for i in r.issues]

    @property
    def errors(self) -> list[Problem]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def findings(self) -> list[Problem]:
        """Every problem once, however many runs it is in (`group_findings`): what is shown."""
        return group_findings(self.issues)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed_configs(self) -> list[ConfigResult]:
        return [r for r in self.results if not r.ok]

    def level_text(self) -> str:
        text = LEVEL_TEXT[self.level]
        if self.level == 2 and self.torchtune_version:
            text += f", torchtune {self.torchtune_version}"
        return text

    def summary(self) -> str:
        """One line: how many configs, at which level, and the verdict."""
        n = len(self.results)
        head = f"{plural(n, 'config')} checked at level {self.level}"
        if self.level == 2:
            head += f" ({plural(len(self.components), 'distinct component')})"
        n_err, n_warn = len(self.errors), len(self.warnings)
        warn = f", {plural(n_warn, 'warning')}" if n_warn else ""
        if not n_err:
            return f"{head}: all passed{warn}"
        n_bad = len(self.failed_configs)
        return f"{head}: {plural(n_err, 'error')}{warn} in {n_bad} of {plural(n, 'config')}"

    def text(self) -> str:
        """The report file: verdict, what was checked, then every problem (deterministic)."""
        lines = [
            "# ttgen validation report",
            f"result: {'passed' if self.ok else 'FAILED'}",
            f"checked: {self.level_text()}",
        ]
        if self.level2_unavailable:
            lines.append(f"level 2 not run: {self.level2_unavailable}")
        lines.append(f"summary: {self.summary()}")
        if self.components:
            lines.append("components:")
            lines.extend(f"  {name}" for name in self.components)
        lines.append("configs:")
        for r in self.results:
            state = "ok" if r.ok else plural(len(r.errors), "error")
            n_warn = len(r.issues) - len(r.errors)
            if n_warn:
                state += f", {plural(n_warn, 'warning')}"
            lines.append(f"  {r.run_id}: {r.file}: {state}")
        if self.issues:
            lines.append("problems (each once, with the runs it is in):")
            lines.extend(i.format() for i in self.findings)
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """The report as data: the verdict, what was checked, each config, and every problem."""
        return {
            "ok": self.ok,
            "level": self.level,
            "torchtune_version": self.torchtune_version,
            "level2_unavailable": self.level2_unavailable,
            "summary": self.summary(),
            "components": self.components,
            "configs": [{"run_id": r.run_id, "file": r.file, "ok": r.ok} for r in self.results],
            "errors": [i.to_json() for i in self.findings if i.severity == "error"],
            "warnings": [i.to_json() for i in self.findings if i.severity == "warning"],
        }
