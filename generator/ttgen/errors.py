"""The one error hierarchy of ttgen, and the `Problem` record every stage reports.

Stages never print: they collect `Problem`s (errors and warnings) and raise a
`UserError` carrying all errors of a stage at once, or return warnings with
their result. Only the CLI turns them into text and exit codes.

A problem a user caused always knows where it came from (file, line, column of
the YAML node) and which dotted path it concerns, and carries a hint saying how
to fix it. Internal bugs are ordinary exceptions and are not wrapped here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class SourcePos:
    """A place in a file: 1-based line and column, as editors count them.

    Examples:
        >>> SourcePos("experiment.yaml", 12, 5)
        SourcePos(file='experiment.yaml', line=12, col=5)
    """

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """One error or warning, with where it is and how to fix it.

    Every stage reports with this one record. A finding of ``ttgen validate``
    also names the run it belongs to (*run_id*) and the validation *level* that
    found it.

    Examples:
        >>> p = Problem("expected a whole number, got string 'x'", pos=SourcePos("exp.yaml", 3, 14),
        ...             path="controls.epochs", hint="remove the quotes")
        >>> print(p.format())
        exp.yaml:3:14: controls.epochs: expected a whole number, got string 'x'
            hint: remove the quotes
    """

    message: str
    pos: SourcePos | None = None
    path: str | None = None
    hint: str | None = None
    severity: Severity = "error"
    run_id: str | None = None
    level: int | None = None
    # Every run the same problem holds for, when findings are grouped (the first is run_id's):
    # shown once as ``3 runs (run_000, run_001, run_002)`` instead of three times.
    runs: tuple[str, ...] = ()

    def format(self) -> str:
        """Render as ``file:line:col: [run_id: ]path: message`` plus an indented hint line."""
        parts = []
        if self.pos is not None:
            parts.append(str(self.pos))
        if len(self.runs) > 1:
            parts.append(f"{len(self.runs)} runs ({abbreviated(self.runs)})")
        elif self.run_id:
            parts.append(self.run_id)
        if self.path:
            parts.append(self.path)
        if self.severity == "warning":
            parts.append("warning")
        parts.append(self.message)
        text = ": ".join(parts)
        if self.hint:
            text += "\n    hint: " + self.hint
        return text

    def to_json(self) -> dict[str, object]:
        """The problem as the ``errors``/``warnings`` items of every ``--json`` document."""
        return {
            "severity": self.severity,
            "file": self.pos.file if self.pos else None,
            "line": self.pos.line if self.pos and self.pos.line else None,
            "column": self.pos.col if self.pos and self.pos.line else None,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "run_id": self.run_id,
            "level": self.level,
            "runs": list(self.runs) if self.runs else ([self.run_id] if self.run_id else []),
        }

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order of reports: by file and position (problems without one first), then path and message."""
        if self.pos is None:
            return ("", 0, 0, self.path or "", self.message)
        return (self.pos.file, self.pos.line, self.pos.col, self.path or "", self.message)


def abbreviated(ids: tuple[str, ...] | list[str], *, head: int = 3, tail: int = 2) -> str:
    """Run ids shown short: all of a few, else the first and last ones.

    Examples:
        >>> abbreviated(["run_000", "run_001"]), abbreviated([f"run_{i:03d}" for i in range(40)])
        ('run_000, run_001', 'run_000, run_001, run_002, ..., run_038, run_039')
    """
    if len(ids) <= head + tail + 1:
        return ", ".join(ids)
    return ", ".join([*ids[:head], "...", *ids[-tail:]])


class TtgenError(Exception):
    """Root of every error ttgen raises on purpose.

    Examples:
        >>> issubclass(UserError, TtgenError)
        True
    """


@dataclass
class UserError(TtgenError):
    """Input the user can fix: carries every problem found, sorted by position.

    Examples:
        >>> err = ExperimentError([Problem("unknown key", pos=SourcePos("experiment.yaml", 7, 3), path="lr",
        ...                                hint="did you mean optimizer.lr?")])
        >>> print(err)
        experiment.yaml:7:3: lr: unknown key
            hint: did you mean optimizer.lr?
    """

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.problems = sorted(self.problems, key=Problem.sort_key)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


class ExperimentError(UserError):
    """experiment.yaml (or a file it names) is malformed or inconsistent.

    Examples:
        >>> from ttgen import Experiment
        >>> try:
        ...     Experiment.from_dict({"experiment": {"name": "x"}})
        ... except ExperimentError as err:
        ...     print(err.problems[0].path)
        experiment.framework
    """


class BaseConfigError(UserError):
    """The base config cannot be found or read.

    Examples:
        >>> from ttgen import plan_experiment
        >>> try:  # doctest: +SKIP
        ...     plan_experiment("experiment.yaml")  # base_config: llama3_2/1B_lora_singel_device
        ... except BaseConfigError as err:
        ...     print(err.problems[0].hint)
        did you mean llama3_2/1B_lora_single_device?
    """


class OutputError(UserError):
    """The output folder cannot be written as asked.

    Examples:
        >>> from ttgen import render_experiment
        >>> try:  # doctest: +SKIP
        ...     render_experiment("experiment.yaml", out="outputs/study")  # it exists already
        ... except OutputError as err:
        ...     print(err.problems[0].hint)
        pass --force to replace it, or choose another --out
    """


class RunLookupError(UserError):
    """A run id or output folder given to diff/check does not exist.

    Examples:
        >>> import ttgen
        >>> try:
        ...     ttgen.open("tests/data/results_sweep/folder").run("run_042")
        ... except RunLookupError as err:
        ...     print(err.problems[0].message)
        no run 'run_042' in this output folder
    """


class ValidationFailed(UserError):
    """Generated configs failed validation.

    Examples:
        >>> from ttgen import render_experiment
        >>> try:  # doctest: +SKIP
        ...     render_experiment("experiment.yaml", out="outputs/study", validate=True)
        ... except ValidationFailed as err:
        ...     print(len(err.errors))
        2
    """


class JobsError(UserError):
    """Submitting or following a sweep on SLURM cannot be done as asked (submit, status, resubmit).

    Examples:
        >>> import ttgen
        >>> try:  # doctest: +SKIP
        ...     ttgen.open("outputs/study").resubmit()  # neither failed=True nor runs=...
        ... except JobsError as err:
        ...     print(err.problems[0].message)
        say which runs: --failed, or --runs 0,3-5 (not both)
    """


class ResultsError(UserError):
    """The results or report cannot be made as asked (an unknown variable or metric, an unwritable report).

    Examples:
        >>> import ttgen
        >>> try:
        ...     ttgen.build_report(ttgen.open("tests/data/results_sweep/folder").results(), colour_by="rank")
        ... except ResultsError as err:
        ...     print(err.problems[0].hint)
        did you mean lora_rank?
    """


class ValueProblem(Exception):
    """One value that cannot be computed (a merge conflict, a derived value that fails).

    Raised inside a stage and caught by the code that knows the context (which
    run, whether to collect or stop), which reports `problem` in a `UserError`.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.format())
        self.problem = problem


class ProblemCollector:
    """Gathers problems across a stage so they can be reported together."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, problem: Problem) -> None:
        (self.warnings if problem.severity == "warning" else self.errors).append(problem)

    def error(self, message: str, *, pos: SourcePos | None = None, path: str | None = None,
              hint: str | None = None) -> None:
        self.errors.append(Problem(message, pos=pos, path=path, hint=hint))

    def warn(self, message: str, *, pos: SourcePos | None = None, path: str | None = None,
             hint: str | None = None) -> None:
        self.warnings.append(Problem(message, pos=pos, path=path, hint=hint, severity="warning"))

    def extend(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.add(p)

    def raise_if_errors(self, cls: type[UserError] = ExperimentError) -> None:
        """Raise *cls* with every error, and the warnings found so far, if any error was found."""
        if self.errors:
            raise cls(self.errors + self.warnings)
