"""Who a run is, written into its config: the ``ttgen:`` block, and the tracker's run name, group and tags.

Every config carries ``ttgen: {experiment, run_id, variables}`` as its last key, so a
tracker that logs the whole config (WandBLogger does) can filter runs on them. When
the metric logger is torchtune's WandBLogger, MLFlowLogger or CometLogger, the run's
name, group and tags (MLflow: experiment and run name) are filled in from the
experiment's name, the run id and the run's variables, unless experiment.yaml sets
them itself (docs/output.md, "Run identity").

Examples:
    >>> tracker_fields("torchtune.training.metric_logging.MLFlowLogger", experiment="lr_study",
    ...                run_id="run_002", values={"lr": 1e-4})
    {'experiment_name': 'lr_study', 'run_name': 'lr_study_run_002'}
    >>> tracker_fields("torchtune.training.metric_logging.WandBLogger", experiment="lr_study",
    ...                run_id="run_002", values={"lr": 1e-4})["tags"]
    ['lr_study', 'lr=0.0001']
    >>> recorded(16), recorded([8, 16])
    (16, '[8, 16]')
"""

from __future__ import annotations

from typing import Any

from ..tree import ConfigPath
from ..yamlio.dump import flow_text

IDENTITY_KEY = "ttgen"
METRIC_LOGGER: ConfigPath = ("metric_logger",)
MAX_TAG = 64  # W&B refuses longer tags
_LOGGERS = "torchtune.training.metric_logging."
WANDB, MLFLOW, COMET = _LOGGERS + "WandBLogger", _LOGGERS + "MLFlowLogger", _LOGGERS + "CometLogger"


def run_name(experiment: str, run_id: str) -> str:
    """The name of a run in a tracker: ``<experiment>_<run_id>``."""
    return f"{experiment}_{run_id}"


def tags(experiment: str, values: dict[str, Any]) -> list[str]:
    """The experiment's name and one ``name=value`` tag per variable (cut to the trackers' length limit)."""
    out = [experiment]
    for name, value in values.items():
        tag = f"{name}={flow_text(value)}"
        out.append(tag if len(tag) <= MAX_TAG else tag[: MAX_TAG - 3] + "...")
    return out


def tracker_fields(component: Any, *, experiment: str, run_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """The metric logger keys that name a run, for a tracker ttgen knows (else empty)."""
    if component == WANDB:
        return {"name": run_name(experiment, run_id), "group": experiment, "tags": tags(experiment, values)}
    if component == MLFLOW:
        return {"experiment_name": experiment, "run_name": run_name(experiment, run_id)}
    if component == COMET:
        return {"experiment_name": run_name(experiment, run_id), "tags": tags(experiment, values)}
    return {}


def recorded(value: Any) -> Any:
    """A variable's value as the ``ttgen:`` block records it: a plain scalar as it is, anything else
    (a list, a mapping, text with ``${...}``) as its one-line YAML text, with OmegaConf's ``\\${``
    escape, so the record is never resolved, merged or checked as part of the config."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    text = value if isinstance(value, str) else flow_text(value)
    return text.replace("${", "\\${")


def identity_block(experiment: str, run_id: str | None, values: dict[str, Any]) -> dict[str, Any]:
    """The ``ttgen:`` block of one run's config."""
    return {"experiment": experiment, "run_id": run_id, "variables": {k: recorded(v) for k, v in values.items()}}
