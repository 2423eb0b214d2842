"""The findings of ``ttgen validate``: one record per problem, and the report of a whole check.

A validation problem belongs to one config of a sweep, so besides the usual
position, dotted path and hint it names the run: lines read
``file:line:col: run_001: model.lora_rnak: message``. The report text is
deterministic (no timings, no absolute temporary paths) because
``render --validate`` writes it into the output folder, whose files are hashed
into the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Problem, Severity, SourcePos, plural

REPORT_FILE = "validation_report.txt"  # written by `ttgen render --validate`, ignored by `ttgen check`

LEVEL_TEXT = {
    1: "level 1 (loads with OmegaConf, interpolations resolve, _component_ names, types of well-known keys)",
    2: "level 2 (level 1, and every _component_ imported and its keyword arguments bound to its signature)",
}


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in one config."""

    run_id: str
    message: str
    pos: SourcePos | None = None
    path: str | None = None  # dotted path inside the config; None for the whole file
    hint: str | None = None
    severity: Severity = "error"
    level: int = 1

    @classmethod
    def from_problem(cls, problem: Problem, *, run_id: str, level: int = 1) -> "ConfigIssue":
        return cls(run_id=run_id, message=problem.message, pos=problem.pos, path=problem.path,
                   hint=problem.hint, severity=problem.severity, level=level)

    def format(self) -> str:
        """``file:line:col: run_001: path: message`` and an indented hint line."""
        where = ": ".join(part for part in (self.run_id, self.path) if part)
        return Problem(self.message, pos=self.pos, path=where, hint=self.hint, severity=self.severity).format()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "severity": self.severity,
            "level": self.level,
            "file": self.pos.file if self.pos else None,
            "line": self.pos.line if self.pos and self.pos.line else None,
            "column": self.pos.col if self.pos and self.pos.line else None,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }

    def sort_key(self) -> tuple[int, int, str, str]:
        if self.pos is None:
            return (0, 0, self.path or "", self.message)
        return (self.pos.line, self.pos.col, self.path or "", self.message)


@dataclass(frozen=True)
class ConfigResult:
    """The verdict on one config file."""

    run_id: str
    file: str  # as displayed in messages
    issues: tuple[ConfigIssue, ...] = ()

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ValidationReport:
    """Everything one validation found, over all configs checked."""

    level: int
    torchtune_version: str | None = None
    level2_unavailable: str | None = None  # why level 2 did not run, when it was not asked for explicitly
    results: list[ConfigResult] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # distinct _component_ names imported (level 2)

    @property
    def issues(self) -> list[ConfigIssue]:
        return [i for r in self.results for i in r.issues]

    @property
    def errors(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[ConfigIssue]:
        return [i for i in self.issues if i.severity == "warning"]

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
            lines.append("problems:")
            lines.extend(i.format() for i in self.issues)
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "level": self.level,
            "torchtune_version": self.torchtune_version,
            "level2_unavailable": self.level2_unavailable,
            "summary": self.summary(),
            "components": self.components,
            "configs": [{"run_id": r.run_id, "file": r.file, "ok": r.ok} for r in self.results],
            "problems": [i.to_json() for i in self.issues],
        }
