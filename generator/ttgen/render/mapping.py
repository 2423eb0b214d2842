"""The run mapping (``configs/run_mapping.yaml``): each run's variables, overrides and output_dir.

The template streams one entry per run; `mapping_rows` gives it the runs'
values as ready YAML text, values shared by runs written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..plan.runs import Plan, RunConfig
from ..tree import dotted
from ..yamlio.dump import key_text, value_text


@dataclass(slots=True)
class MappingRow:
    """One run's entry for the run_mapping template (``run.run_id``, ``run.variables_text``, ...).

    Attributes, not dict keys: Jinja resolves ``run.x`` with getattr first, and a failed
    getattr per field and run would be a third of the mapping's cost.
    """

    run_id: str
    variables: dict[str, Any]
    variables_text: str
    overrides_text: str
    derived_text: str
    output_dir: Any
    output_dir_auto: bool
    resubmit_text: str = ""  # what `ttgen resubmit` changed in this run
    base_config: str | None = None  # with a base axis: the base config the run starts from
    sample: int | None = None  # in a random search: which draw the run takes (0-based)


def mapping_rows(plan: Plan, runs: Iterable[RunConfig]) -> Iterator[MappingRow]:
    """Per-run rows for the run_mapping template; the text of each variable value is built once."""
    variables = plan.variables
    drawn = next((vi for vi, v in enumerate(variables) if v.drawn), None)
    sources = [part.base.source for part in plan.bases] if plan.parts else None
    variable_texts: dict[tuple[int, int], str] = {}  # (variable, value index) -> its entry
    override_texts: dict[tuple[Any, ...], str] = {}  # controls and variable values by path and value

    def entry(name: str, value: Any, source: str | None) -> str:
        inline, block = value_text(value, indent=4, source=source)
        return "    " + key_text(name) + ":" + (" " + inline if inline else "") + "\n" + block

    for run in runs:
        parts = []
        for vi, c in enumerate(run.point.choices):
            text = variable_texts.get((vi, c))
            if text is None:
                v = variables[vi]
                text = variable_texts[vi, c] = entry(v.name, v.values[c], v.source(c))
            parts.append(text)
        overrides = []
        for ov in run.overrides:
            if ov.origin == "auto":
                continue
            if ov.key in run.derived:
                text = entry(dotted(ov.path), ov.value, None)  # computed for this run alone
            else:
                key = (ov.path, ov.source, repr(ov.value))
                text = override_texts.get(key)
                if text is None:
                    text = override_texts[key] = entry(dotted(ov.path), ov.value, ov.source)
            overrides.append(text)
        derived = "".join([entry(name, value, None) for name, value in run.derived.items()])
        resubmit = "".join([entry(ov.key, ov.value, None) for ov in run.overrides if ov.origin == "resubmit"])
        yield MappingRow(run_id=run.run_id, variables=run.variables, variables_text="".join(parts),
                         overrides_text="".join(overrides), derived_text=derived, output_dir=run.output_dir,
                         output_dir_auto=run.output_dir_auto, resubmit_text=resubmit,
                         base_config=sources[run.base] if sources is not None else None,
                         sample=run.point.choices[drawn] if drawn is not None else None)
