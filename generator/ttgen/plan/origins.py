"""Where a value comes from: the one labeller of origins.

Generated configs end every overridden line with a comment such as
``# variable: lora_rank``, and ``ttgen diff`` shows the same words in its
ORIGIN column; both come from `Origin.label`.

Examples:
    >>> Origin("variable", "lora_rank", ("model", "lora_rank")).label()
    'variable: lora_rank'
    >>> Origin("control", "optimizer.lr", ("optimizer", "lr")).label()
    'control'
    >>> Origin("control", "learning_rate", ("optimizer", "lr")).label()
    'control: learning_rate'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..tree import ConfigPath, dotted

OverrideKind = Literal["control", "variable", "auto", "resubmit", "command line"]  # what sets a value in a run
# What a diff row can come from; "base": two runs of a base axis start from different base configs.
OriginKind = Literal["variable", "control", "delete", "auto", "resubmit", "command line", "base", "unknown"]

# Why ttgen set a value itself (the key of an "auto" origin).
AUTO_SHARED_OUTPUT_DIR = "per-run output_dir"  # runs shared an output_dir: each got <dir>/<run_id>
AUTO_RUN_FOLDER = "run output folder"  # output_dir not set by the experiment: output.run_dir
AUTO_RUN_IDENTITY = "run identity"  # the ttgen: block (experiment, run id, variables)
AUTO_TRACKER = "tracker identity"  # the metric logger's run name, group, tags


@dataclass(frozen=True)
class Origin:
    """The experiment.yaml entry that makes a value: its kind, the key as written, the path it sets."""

    kind: OriginKind
    key: str | None = None  # variable name, control key, deleted path, why ttgen set it (auto); None: unknown
    path: ConfigPath = ()  # the config path that entry sets or deletes

    def label(self) -> str:
        """The short text of configs' trailing comments and of diff tables."""
        if self.kind == "auto":
            return f"auto: {self.key or AUTO_SHARED_OUTPUT_DIR}"
        if self.kind == "unknown":
            return "unknown"
        # "control" alone when the key written is the path itself.
        if self.kind in ("control", "resubmit", "command line") and self.key is not None \
                and self.key.lstrip("+") == dotted(self.path):
            return self.kind
        return f"{self.kind}: {self.key}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key}


UNKNOWN = Origin("unknown")
