"""Level 1's value checks on the planned values, before anything is written (``render``, ``--dry-run``).

``ttgen validate`` checks the written configs, and reports a mistake at a line of each
generated config. Most mistakes are made in experiment.yaml, once: a control
``dtype: bfloat16`` is wrong in all 100 runs. Here the same rules (`ttgen.validate.static`:
types and allowed values of the keys recipes read, ``_component_`` names, interpolations
that name no key) run on each value experiment.yaml sets, once per value, and each problem
points at the place that set it (file:line:col of the control, the variable's value, the
command-line argument), with the runs it affects. Values from the base config are not
checked here (``ttgen validate`` does), nor values that are interpolations (they resolve
in the config).

Examples:
    >>> from ttgen import plan_experiment
    >>> check_plan(plan_experiment("examples/lora_rank_sweep/experiment.yaml"))
    []
"""

from __future__ import annotations

from typing import Any, Iterator

from ..errors import Problem, SourcePos
from ..plan.resolve import Override
from ..plan.runs import Plan
from ..tree import MISSING, ConfigPath, Key, display_path, iter_nodes, lookup
from .static import RULES, _INTERPOLATION, _interpolation_hint, _ref_path, component_name_problem, rule_problem


def _findings(path: ConfigPath, value: Any) -> Iterator[tuple[Key, str, str]]:
    """(sub-path inside *value*, message, hint) for what is wrong in *value*, set at config *path*."""
    for sub, node in iter_nodes(value):
        if not all(isinstance(k, str) for k in sub):
            continue  # inside a list: rules are about mappings' keys
        full = path + sub  # type: ignore[operator]
        if isinstance(node, str) and "${" in node:
            continue  # resolved in the config, where `ttgen validate` checks it
        if full in RULES:
            found = rule_problem(full, node)
            if found:
                yield sub, found[0], found[1]
        if full[-1:] == ("_component_",):
            found = component_name_problem(node)
            if found:
                yield sub, found[0], found[1]


def _interpolations(plan: Plan, value: Any) -> Iterator[tuple[Key, str, str]]:
    """Plain ``${a.b}`` references in *value* that name no key of the planned config."""
    variable_paths = [p for v in plan.variables for p in v.paths]
    for sub, node in iter_nodes(value):
        if not isinstance(node, str) or "${" not in node:
            continue
        for ref in _INTERPOLATION.findall(node):
            target = _ref_path(ref)  # None: a resolver (${oc.env:...}) or a relative reference
            if target is None or lookup(plan.controlled.tree, target) is not MISSING or \
                    any(target[:len(p)] == p for p in variable_paths):
                continue
            yield sub, f"interpolation {node!r} names no key of the config: ${{{ref.strip()}}}", \
                _interpolation_hint(node, plan.controlled.tree)


def _problem(message: str, hint: str, *, pos: SourcePos, where: Key | str, runs: list[str], total: int) -> Problem:
    path = where if isinstance(where, str) else display_path(where)
    if len(runs) == total:
        return Problem(message + (f" (all {total} runs)" if total > 1 else ""), pos=pos, path=path, hint=hint)
    return Problem(message, pos=pos, path=path, hint=hint, run_id=runs[0], level=1, runs=tuple(runs))


def _control_place(ov: Override, sub: Key) -> tuple[SourcePos, Key | str]:
    if ov.origin == "command line":
        return ov.pos, str(ov.doc_path[0])
    where = ov.doc_path + sub
    return ov.positions.get(where, ov.pos), where


def check_plan(plan: Plan) -> list[Problem]:
    """Every level-1 problem in the values experiment.yaml (or the command line) sets, grouped."""
    from ..plan.derive import is_template

    total = len(plan)
    every = [p.run_id for p in plan.sweep] if total else []
    out: list[Problem] = []
    for ov in plan.resolved.controls:
        if is_template(ov.value):
            continue  # a derived value: checked per run below
        for sub, message, hint in [*_findings(ov.path, ov.value), *_interpolations(plan, ov.value)]:
            pos, where = _control_place(ov, sub)
            out.append(_problem(message, hint, pos=pos, where=where, runs=every, total=total))
    runs_by_value: dict[tuple[int, int], list[str]] | None = None
    for vi, var in enumerate(plan.variables):
        for i, value in enumerate(var.values):
            if is_template(value) and var.presets is None:
                continue
            # A plain value at the variable's path, or each key a preset sets.
            found = [(ov.doc_path + sub, message, hint) for ov in var.overrides(i)
                     for sub, message, hint in [*_findings(ov.path, ov.value), *_interpolations(plan, ov.value)]]
            if not found:
                continue
            if runs_by_value is None:  # which runs take each value: one pass over the sweep, when needed
                runs_by_value = {}
                for point in plan.sweep:
                    for vj, c in enumerate(point.choices):
                        runs_by_value.setdefault((vj, c), []).append(point.run_id)
            for where, message, hint in found:
                out.append(_problem(message, hint, pos=plan.experiment.doc.pos(where), where=where,
                                    runs=runs_by_value.get((vi, i), []), total=total))
    if plan.has_derived:
        derived: dict[tuple[SourcePos, str, str, str], list[str]] = {}
        for run in plan.runs():
            for ov in run.overrides:
                if ov.key not in run.derived or ov.origin == "auto":
                    continue
                for sub, message, hint in _findings(ov.path, ov.value):
                    key = (ov.pos, display_path(ov.doc_path + sub), f"{message} (derived)", hint)
                    derived.setdefault(key, []).append(run.run_id)
        for (pos, where, message, hint), runs in derived.items():
            out.append(_problem(message, hint, pos=pos, where=where, runs=runs, total=total))
    return sorted(out, key=Problem.sort_key)
