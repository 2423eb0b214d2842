"""The evaluation: section, checked, and what it evaluates for each run (docs/evaluating.md).

`evaluation_settings` checks the section against the experiment (task files exist,
the harness fits the tasks, torchtune's own evaluation config exists and the keys
changed in it are its keys) while planning, so errors stop a render before
anything is written. `run_evaluations` turns one run's full config into its
evaluations, one per epoch x task: absolute log folders, the checkpoint folder as
torchtune's checkpointer writes it (``<checkpointer.output_dir>/epoch_N``), and
the exact command (``inspect eval ...`` or ``tune run eleuther_eval ...``).

Paths taken from a run's config (its output_dir, checkpoint_dir) are kept as the
config has them: a relative one is read from the job's working folder, exactly as
`tune run` read it while training (docs/decisions.md).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import BaseConfigError, Problem, ProblemCollector, SourcePos, ValueProblem
from ..inputs.base import BaseConfig
from ..inputs.catalog import load_catalog
from ..inputs.experiment import Experiment
from ..layout import BASELINE, eval_config_file, eval_log_dir
from ..text import did_you_mean
from ..tree import MISSING, display_path, dotted, iter_paths, lookup, split_dotted
from .outputs import resolve_text

INSPECT, TORCHTUNE = "inspect", "torchtune"
EVAL_RECIPE = "eleuther_eval"
# Keys of a LoRA builder that its plain builder does not take (torchtune.models.*.lora_*).
_LORA_ONLY = ("lora_", "apply_lora", "use_dora", "quantize_base")
# Generation settings as inspect eval's command-line options.
_GENERATION_FLAGS = {"max_tokens": "--max-tokens", "temperature": "--temperature", "top_p": "--top-p",
                     "top_k": "--top-k", "seed": "--seed", "system_message": "--system-message"}
SECTION = ("evaluation",)


@dataclass(frozen=True)
class EvalTask:
    """One task of the section: as written, and as the harness is given it."""

    index: int
    written: str  # as in experiment.yaml
    target: str  # a task file made absolute (with its @name), or the task name
    args: dict[str, Any]

    @property
    def name(self) -> str:
        """The task's name as Inspect logs it: the @name, else the file's stem, else the name as written."""
        if "@" in self.target:
            return self.target.rsplit("@", 1)[1]
        return Path(self.target).stem if self.target.endswith(".py") else self.target


@dataclass
class EvalSettings:
    """The checked evaluation: section."""

    harness: str
    tasks: list[EvalTask]
    epochs: str | list[int]  # "last", "all" or epoch numbers
    limit: int | None
    baseline: bool
    generation: dict[str, Any]
    model_args: dict[str, Any]
    config: dict[str, Any]  # harness torchtune: dotted keys of the shipped evaluation config to change
    eval_base: dict[str, Any] | None = None  # harness torchtune: the shipped evaluation config
    eval_base_name: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """One run x epoch x task to evaluate (or the baseline's, epoch None)."""

    run_id: str
    epoch: int | None
    task: EvalTask
    harness: str
    checkpoint_dir: str  # as torchtune writes it; relative ones start from the job's working folder
    log_dir: str  # absolute
    argv: list[str]  # the command, after the program (`inspect` or `tune`)
    config: str | None = None  # harness torchtune: the eleuther_eval config, relative to the output folder
    config_tree: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def program(self) -> str:
        return "inspect" if self.harness == INSPECT else "tune"

    def to_entry(self) -> dict[str, Any]:
        """Its entry in evaluation/evaluations.yaml."""
        entry: dict[str, Any] = {"epoch": self.epoch, "task": self.task.written, "task_target": self.task.target,
                                 "task_name": self.task.name,
                                 "harness": self.harness, "checkpoint_dir": self.checkpoint_dir,
                                 "log_dir": self.log_dir, "command": [self.program, *self.argv]}
        if self.task.args:
            entry["task_args"] = self.task.args
        if self.config is not None:
            entry["config"] = self.config
        return entry


def _is_file_task(text: str) -> bool:
    target = text.rsplit("@", 1)[0] if "@" in text else text
    return target.endswith(".py") or target.startswith((".", "/", "~"))


def _family(tree: dict[str, Any]) -> str | None:
    """The model family of a config, from its model builder (``torchtune.models.llama3_2.lora_llama3_2``)."""
    component = lookup(tree, ("model", "_component_"))
    parts = str(component).split(".") if component is not MISSING else []
    return parts[2] if len(parts) >= 4 and parts[:2] == ["torchtune", "models"] else None


def evaluation_settings(exp: Experiment, base: BaseConfig, *, problems: ProblemCollector,
                        recorded: Mapping[str, str] | None = None) -> EvalSettings | None:
    """The checked evaluation: section, or None without one; problems go to *problems*.

    *recorded*: task files as an earlier render resolved them (``{as written: target}``), used
    instead of resolving them again (an output folder's copy of experiment.yaml)."""
    section = exp.evaluation
    if section is None:
        return None
    doc = exp.doc
    harness = section.get("harness", INSPECT)
    tasks: list[EvalTask] = []
    for i, item in enumerate(section["tasks"]):
        written = item if isinstance(item, str) else item["task"]
        args = dict(item.get("args") or {}) if isinstance(item, dict) else {}
        where = SECTION + ("tasks", i) + (() if isinstance(item, str) else ("task",))
        target = written
        if recorded and written in recorded:
            target = recorded[written]
        elif _is_file_task(written):
            if harness == TORCHTUNE:
                problems.error(f"harness torchtune evaluates lm_eval tasks by name, not the task file {written!r}",
                               pos=doc.pos(where), path=display_path(where[:3]),
                               hint="use harness: inspect for Inspect AI task files, or name an lm_eval task "
                                    "(e.g. truthfulqa_mc2)")
                continue
            file, at, name = written.partition("@")
            path = (exp.folder / Path(file).expanduser()).resolve()
            if not path.is_file():
                problems.error(f"task file {file!r} not found ({path})", pos=doc.pos(where), path=display_path(where[:3]),
                               hint="task files are relative to the folder of experiment.yaml")
                continue
            target = str(path) + (at + name if at else "")
        elif args and harness == TORCHTUNE:
            problems.error("harness torchtune takes no task arguments", pos=doc.pos(where[:3] + ("args",)),
                           path=display_path(where[:3]), hint="remove args:, or use harness: inspect")
        tasks.append(EvalTask(i, written, target, args))
    seen: set[str] = set()
    for t in tasks:
        # One run x epoch keeps its logs in one folder, told apart by the task's name only.
        if t.name in seen:
            problems.error(f"task {t.name!r} is listed twice: its logs could not be told apart",
                           pos=doc.pos(SECTION + ("tasks", t.index)), path=f"evaluation.tasks[{t.index}]",
                           hint="list each task once (to compare arguments, use a second experiment or a task "
                                "file that defines two named tasks)")
        seen.add(t.name)
    if harness == TORCHTUNE and section.get("generation"):
        problems.warn("generation settings are Inspect AI's; harness torchtune ignores them",
                      pos=doc.pos(SECTION + ("generation",)), path="evaluation.generation",
                      hint="remove generation:, or use harness: inspect")
    settings = EvalSettings(harness=harness, tasks=tasks, epochs=section.get("epochs", "last"),
                            limit=section.get("limit"), baseline=bool(section.get("baseline", False)),
                            generation=dict(section.get("generation") or {}),
                            model_args=dict(section.get("model_args") or {}), config=dict(section.get("config") or {}))
    if settings.config and harness != TORCHTUNE:
        problems.error("evaluation.config changes torchtune's evaluation config: it needs harness: torchtune",
                       pos=doc.pos(SECTION + ("config",)), path="evaluation.config",
                       hint="add harness: torchtune, or remove config:")
    if harness == TORCHTUNE:
        _load_eval_base(settings, exp, base, problems=problems)
    return settings


def _load_eval_base(settings: EvalSettings, exp: Experiment, base: BaseConfig, *, problems: ProblemCollector) -> None:
    """The shipped ``<family>/evaluation`` config, and the section's config: keys checked against it."""
    from ..yamlio.load import read_own_yaml

    family = _family(base.data)
    pos = exp.doc.pos(SECTION + ("harness",))
    if family is None:
        problems.error("harness torchtune needs the model family, read from the base's model._component_ "
                       f"(torchtune.models.<family>.<builder>), which is {lookup(base.data, ('model', '_component_'))!r}",
                       pos=pos, path="evaluation.harness", hint="use harness: inspect")
        return
    name = f"{family}/evaluation"
    try:
        shipped = load_catalog().get(name, pos=pos, path="evaluation.harness")
        tree = read_own_yaml(shipped.path, what="evaluation config", error_cls=BaseConfigError)
    except BaseConfigError as err:
        problems.errors.extend(Problem(p.message, pos=pos, path="evaluation.harness",
                                       hint=f"torchtune ships no {name} for this model family; use harness: inspect")
                               for p in err.errors)
        return
    settings.eval_base, settings.eval_base_name = tree, name
    known = {dotted(p) for p, _ in iter_paths(tree)} | {dotted(p[:i]) for p, _ in iter_paths(tree)
                                                        for i in range(1, len(p))}
    for key in settings.config:
        if key not in known:
            problems.error(f"{key!r} is not a key of torchtune's {name}", pos=exp.doc.key_pos(SECTION + ("config", key)),
                           path=f"evaluation.config.{key}",
                           hint=did_you_mean(key, sorted(known)) or f"the keys of {name}: tune cp {name} . shows them")


def _epochs(settings: EvalSettings, run_epochs: int) -> list[int]:
    if settings.epochs == "last":
        return [run_epochs - 1]
    if settings.epochs == "all":
        return list(range(run_epochs))
    return sorted(settings.epochs)  # type: ignore[arg-type]


def _plain_model(model: dict[str, Any]) -> dict[str, Any]:
    """A LoRA model section as its plain builder: the merged checkpoint has no LoRA weights."""
    component = str(model.get("_component_", ""))
    module, _, builder = component.rpartition(".")
    if not builder.startswith("lora_"):
        return dict(model)
    plain = {k: v for k, v in model.items() if not k.startswith(_LORA_ONLY)}
    plain["_component_"] = f"{module}.{builder.removeprefix('lora_')}"
    return plain


def _path_of(tree: dict[str, Any], path: tuple[str, ...]) -> str | None:
    value = lookup(tree, path)
    if value is MISSING or value is None:
        return None
    return resolve_text(value, tree)


def run_evaluations(settings: EvalSettings, *, run_id: str, tree: dict[str, Any], folder: Path,
                    pos: SourcePos | None = None) -> list[Evaluation]:
    """Every evaluation of one run (*tree*: its full config), epochs first, then tasks.

    *folder* is the output folder as the jobs see it (absolute). Raises `ValueProblem` when
    the run cannot be evaluated (adapter weights only, no checkpoint folder, an epoch it never reaches).
    """
    def refuse(message: str, hint: str) -> ValueProblem:
        return ValueProblem(Problem(f"{run_id}: {message}", pos=pos, path="evaluation", hint=hint, run_id=run_id))

    if lookup(tree, ("save_adapter_weights_only",)) is True:
        raise refuse("save_adapter_weights_only is true, so training saves no model to evaluate",
                     "set save_adapter_weights_only: false (torchtune then also saves the merged model), "
                     "or remove the evaluation: section")
    checkpoints = _path_of(tree, ("checkpointer", "output_dir")) or _path_of(tree, ("output_dir",))
    if checkpoints is None or "${" in checkpoints:
        raise refuse("the run's checkpoint folder (checkpointer.output_dir) is not a plain path",
                     "set output_dir to a path")
    epochs = lookup(tree, ("epochs",))
    run_epochs = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > 0 else 1
    chosen = _epochs(settings, run_epochs)
    if chosen and chosen[-1] >= run_epochs:
        raise refuse(f"epoch {chosen[-1]} is evaluated, but the run trains {run_epochs} "
                     f"epoch{'s' if run_epochs != 1 else ''} (epoch_0 to epoch_{run_epochs - 1})",
                     "list epochs counted from 0 below the runs' epochs, or use epochs: last")
    if settings.harness == INSPECT:
        component = str(lookup(tree, ("checkpointer", "_component_")))
        if not component.endswith("HFCheckpointer"):
            raise refuse(f"Inspect AI loads checkpoints in Hugging Face's format, and {component} writes another",
                         "use torchtune.training.FullModelHFCheckpointer, or harness: torchtune")
    found = []
    for epoch in chosen:
        for task in settings.tasks:
            found.append(_evaluation(settings, run_id=run_id, epoch=epoch, task=task, tree=tree, folder=folder,
                                     checkpoint_dir=f"{checkpoints.rstrip('/')}/epoch_{epoch}"))
    return found


def baseline_evaluations(settings: EvalSettings, *, tree: dict[str, Any], folder: Path) -> list[Evaluation]:
    """The untouched base model's evaluations: run 0's checkpointer.checkpoint_dir, each task once."""
    base_dir = _path_of(tree, ("checkpointer", "checkpoint_dir")) or ""
    return [_evaluation(settings, run_id=BASELINE, epoch=None, task=task, tree=tree, folder=folder,
                        checkpoint_dir=base_dir) for task in settings.tasks]


def _evaluation(settings: EvalSettings, *, run_id: str, epoch: int | None, task: EvalTask, tree: dict[str, Any],
                folder: Path, checkpoint_dir: str) -> Evaluation:
    log_dir = str(folder / eval_log_dir(run_id, epoch))
    if settings.harness == INSPECT:
        return Evaluation(run_id, epoch, task, INSPECT, checkpoint_dir, log_dir,
                          _inspect_argv(settings, task=task, tree=tree, model=checkpoint_dir, log_dir=log_dir))
    config = eval_config_file(run_id, epoch, task.index)
    config_tree = eval_config(settings, task=task, tree=tree, checkpoint_dir=checkpoint_dir, log_dir=log_dir,
                              baseline=epoch is None)
    return Evaluation(run_id, epoch, task, TORCHTUNE, checkpoint_dir, log_dir,
                      ["run", EVAL_RECIPE, "--config", str(folder / config)], config=config, config_tree=config_tree)


def _inspect_argv(settings: EvalSettings, *, task: EvalTask, tree: dict[str, Any], model: str,
                  log_dir: str) -> list[str]:
    argv = ["eval", task.target, "--model", f"hf/{model}", "--log-dir", log_dir]
    model_args = dict(settings.model_args)
    tokenizer = _path_of(tree, ("checkpointer", "checkpoint_dir"))
    if "tokenizer" not in model_args and tokenizer:
        model_args["tokenizer"] = tokenizer  # a Hugging Face model folder keeps its tokenizer files
    for name, value in sorted(model_args.items()):
        argv += ["-M", f"{name}={_arg_text(value)}"]
    for name, value in sorted(task.args.items()):
        argv += ["-T", f"{name}={_arg_text(value)}"]
    if settings.limit is not None:
        argv += ["--limit", str(settings.limit)]
    for name, value in settings.generation.items():
        argv += [_GENERATION_FLAGS[name], _arg_text(value)]
    return argv


def _arg_text(value: Any) -> str:
    """A value for inspect's ``-T``/``-M`` (read as YAML there): strings as written, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def eval_config(settings: EvalSettings, *, task: EvalTask, tree: dict[str, Any], checkpoint_dir: str, log_dir: str,
                baseline: bool) -> dict[str, Any]:
    """harness torchtune: a complete eleuther_eval config for one checkpoint and task.

    The shipped ``<family>/evaluation`` config, with the run's model (its plain builder: the
    checkpoint torchtune saves after LoRA training is merged), tokenizer, device and dtype,
    the checkpoint folder, the task and limit, then the section's own ``config:`` keys.
    """
    assert settings.eval_base is not None
    config = copy.deepcopy(settings.eval_base)
    config["output_dir"] = log_dir
    config["model"] = _plain_model(dict(tree.get("model") or {}))
    base_ckpt = dict(tree.get("checkpointer") or {})
    checkpointer = dict(config.get("checkpointer") or {})
    checkpointer["_component_"] = base_ckpt.get("_component_", checkpointer.get("_component_"))
    checkpointer["checkpoint_dir"] = checkpoint_dir
    files = base_ckpt.get("checkpoint_files")
    if baseline:
        checkpointer["checkpoint_files"] = files
    else:
        # torchtune's HF checkpointer writes epoch_N/model-0000i-of-0000K.safetensors, K shards as read.
        count = int(files.get("max_filename", 1)) if isinstance(files, dict) else len(files or [1])
        checkpointer["checkpoint_files"] = {"filename_format": "model-{}-of-{}.safetensors",
                                            "max_filename": f"{count:05d}"}
    for key in ("model_type", "adapter_checkpoint"):
        checkpointer.pop(key, None)
    if "model_type" in base_ckpt:
        checkpointer["model_type"] = base_ckpt["model_type"]
    checkpointer["recipe_checkpoint"] = None
    checkpointer["output_dir"] = log_dir
    config["checkpointer"] = checkpointer
    config["resume_from_checkpoint"] = False
    if "tokenizer" in tree:
        config["tokenizer"] = copy.deepcopy(tree["tokenizer"])
    for key in ("device", "dtype"):
        if key in tree:
            config[key] = tree[key]
    config["tasks"] = [task.target]
    config["limit"] = settings.limit
    for key, value in settings.config.items():
        path = split_dotted(key)
        node = config
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return config
