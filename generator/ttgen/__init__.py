"""ttgen: one declarative experiment.yaml in, a folder of complete torchtune configs out.

The Python API mirrors the command line, one function per command::

    from ttgen import render_experiment, plan_experiment, diff_runs, check_experiment, validate_output_folder

    plan = plan_experiment("experiment.yaml")              # ttgen render --dry-run
    result = render_experiment("experiment.yaml", out="outputs/study")   # ttgen render
    diff = diff_runs(result.output_dir, "run_001")         # ttgen diff run_001
    check = check_experiment("experiment.yaml", against=result.output_dir)  # ttgen check
    report = validate_output_folder(result.output_dir)     # ttgen validate
    results = collect_results(result.output_dir)           # ttgen results
    write_report(result.output_dir)                        # ttgen report

Every function raises a `UserError` subclass for input a user can fix; its
``problems`` are `Problem` records carrying file, line, column, dotted path and
a hint. Nothing here prints or exits.

Names are imported on first use, so ``ttgen --help`` starts fast; type checkers
see the real types through the imports below.
"""

from __future__ import annotations

import importlib

# Not `from typing import TYPE_CHECKING`: importing typing costs milliseconds at every start,
# the moments before ttgen can catch Ctrl-C. Type checkers treat this name as True.
TYPE_CHECKING = False

from .version import __version__

if TYPE_CHECKING:
    from typing import Any

    from .errors import (BaseConfigError, ExperimentError, JobsError, OutputError, Problem, ResultsError,
                         RunLookupError, SourcePos, TtgenError, UserError, ValidationFailed)
    from .inputs.catalog import Catalog, ShippedConfig, load_catalog
    from .plan.build import plan_experiment
    from .plan.runs import Plan, RunConfig
    from .render.output import RenderResult, render_experiment
    from .api.experiment import Experiment, PlannedRun, SweepPlan, render
    from .api.folder import FolderRun, OutputFolder
    from .api.folder import open_folder as open
    from .jobs.resubmit import resubmit_runs
    from .jobs.status import RunStatus, SweepStatus, sweep_status
    from .jobs.submit import SubmitResult, submit_sweep
    from .results.collect import RunResult, SweepResults, collect_results
    from .results.report import build_report, write_report
    from .review.check import CheckResult, check_experiment
    from .review.diff import DiffResult, Difference, diff_runs
    from .validate.report import ValidationReport
    from .validate.validator import find_configs, validate_configs, validate_output_folder

# Public name -> the module that defines it (relative to this package), or "module:name" when
# it is defined under another name there (`ttgen.open` is `api.folder.open_folder`).
_EXPORTS = {
    "TtgenError": "errors",
    "UserError": "errors",
    "ExperimentError": "errors",
    "BaseConfigError": "errors",
    "OutputError": "errors",
    "RunLookupError": "errors",
    "ValidationFailed": "errors",
    "ResultsError": "errors",
    "JobsError": "errors",
    "submit_sweep": "jobs.submit",
    "SubmitResult": "jobs.submit",
    "resubmit_runs": "jobs.resubmit",
    "sweep_status": "jobs.status",
    "SweepStatus": "jobs.status",
    "RunStatus": "jobs.status",
    "Problem": "errors",
    "SourcePos": "errors",
    "plan_experiment": "plan.build",
    "Plan": "plan.runs",
    "RunConfig": "plan.runs",
    "render_experiment": "render.output",
    "RenderResult": "render.output",
    "diff_runs": "review.diff",
    "DiffResult": "review.diff",
    "Difference": "review.diff",
    "check_experiment": "review.check",
    "CheckResult": "review.check",
    "validate_configs": "validate.validator",
    "validate_output_folder": "validate.validator",
    "find_configs": "validate.validator",
    "ValidationReport": "validate.report",
    "Experiment": "api.experiment",
    "SweepPlan": "api.experiment",
    "PlannedRun": "api.experiment",
    "open": "api.folder:open_folder",
    "OutputFolder": "api.folder",
    "FolderRun": "api.folder",
    "collect_results": "results.collect",
    "SweepResults": "results.collect",
    "RunResult": "results.collect",
    "build_report": "results.report",
    "write_report": "results.report",
    "load_catalog": "inputs.catalog",
    "Catalog": "inputs.catalog",
    "ShippedConfig": "inputs.catalog",
}

__all__ = [
    "__version__",
    # the commands
    "plan_experiment", "Plan", "RunConfig",
    "render_experiment", "RenderResult",
    "diff_runs", "DiffResult", "Difference",
    "check_experiment", "CheckResult",
    "validate_configs", "validate_output_folder", "find_configs", "ValidationReport",
    "load_catalog", "Catalog", "ShippedConfig",
    "submit_sweep", "SubmitResult", "resubmit_runs", "sweep_status", "SweepStatus", "RunStatus",
    "collect_results", "SweepResults", "RunResult", "build_report", "write_report",
    "Experiment", "SweepPlan", "PlannedRun", "render", "open", "OutputFolder", "FolderRun",
    # problems and errors
    "Problem", "SourcePos",
    "TtgenError", "UserError", "ExperimentError", "BaseConfigError", "OutputError", "RunLookupError",
    "ValidationFailed", "ResultsError", "JobsError",
]


if not TYPE_CHECKING:  # hidden from type checkers, so `from ttgen import Typo` is an error there too

    def __getattr__(name: str) -> Any:
        where = _EXPORTS.get(name)
        if where is None:
            raise AttributeError(f"module 'ttgen' has no attribute {name!r}")
        module, _, attribute = where.partition(":")  # "module:attribute" when the names differ
        return getattr(importlib.import_module(f".{module}", __name__), attribute or name)


    # `ttgen.render` names both the pipeline's render subpackage and the API's `render()`.
    # Python binds a subpackage to its parent's attribute when it is imported, so the
    # subpackage is made callable: calling it calls `ttgen.api.experiment.render`.
    import types as _types

    from . import render as _render_package

    class _CallableRenderPackage(_types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            from .api.experiment import render

            return render(*args, **kwargs)

    _render_package.__class__ = _CallableRenderPackage


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
