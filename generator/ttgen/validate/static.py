"""Level 1 of ``ttgen validate``: what can be checked in a config without importing torch.

Each config is read with `ttgen.yamlio.load.read_yaml_file` (OmegaConf's typing, and a
position for every key and value) and built into an OmegaConf ``DictConfig``
exactly as torchtune builds it from the file's contents. Then:

- every ``${...}`` interpolation is resolved through OmegaConf, one node at a
  time, so each failure names its own path;
- every ``_component_``, at any depth and inside lists, is a dotted Python name;
- the keys recipes read directly (``epochs``, ``batch_size``, ``dtype``,
  ``optimizer.lr``, ...) hold values of the types the recipes need, judged on
  the resolved value.

This module must never import torch or torchtune (a test checks ``sys.modules``):
it is what runs where torchtune is not installed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..errors import Problem, SourcePos, UserError
from ..text import close_matches, did_you_mean, first_line, short_repr
from ..tree import MISSING, Key, display_path, iter_nodes, lookup
from ..yamlio.load import YamlDocument, read_yaml_file
from ..yamlio.types import yaml_type_name

# torchtune 0.6.1, torchtune/training/precision.py: PRECISION_STR_TO_DTYPE
DTYPE_NAMES = ("fp16", "bf16", "fp32", "fp64")
DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32",
                 "float64": "fp64", "double": "fp64", "fp8": None, "int8": None}
# torchtune 0.6.1, torchtune/modules/peft/_utils.py: LORA_ATTN_MODULES
LORA_ATTN_MODULES = ("q_proj", "k_proj", "v_proj", "output_proj")
# training.set_seed accepts the range of a uint32
SEED_MAX = 2**32 - 1

_INTERPOLATION = re.compile(r"\$\{([^${}]*)\}")
_ENV_RESOLVER = "oc.env:"
MANDATORY = "???"  # OmegaConf's "mandatory value, not set yet"


@dataclass(frozen=True)
class ComponentNode:
    """A mapping with ``_component_``: what level 2 imports and binds."""

    path: Key
    name: str  # the dotted name, interpolation resolved
    keys: tuple[str, ...]  # every other key of the mapping: the keyword arguments
    pos: SourcePos  # of the _component_ value
    key_positions: dict[str, SourcePos] = field(default_factory=dict, compare=False)

    @property
    def dotted(self) -> str:
        return display_path(self.path)


@dataclass
class StaticResult:
    """Level 1's findings on one config, and the components level 2 will check."""

    run_id: str
    issues: list[Problem] = field(default_factory=list)
    components: list[ComponentNode] = field(default_factory=list)


# ---------------------------------------------------------------- value rules


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and not (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True)
class Rule:
    """What a recipe needs at one path: a predicate and how to say it."""

    expect: str
    ok: Callable[[Any], bool]
    why: str = ""  # what breaks otherwise
    hint: Callable[[Any], str | None] | None = None


def _positive_int(why: str, *, null: bool = False) -> Rule:
    return Rule("a positive whole number" + (" or null" if null else ""),
                lambda v: (null and v is None) or (_is_int(v) and v > 0), why)


def _flag(why: str = "") -> Rule:
    return Rule("true or false", lambda v: isinstance(v, bool), why)


# Keys that torchtune 0.6.1's recipes read from the config themselves (not through
# a component's signature, which level 2 checks). Only paths present are checked.
RULES: dict[tuple[str, ...], Rule] = {
    ("epochs",): _positive_int("the recipe loops over range(epochs)"),
    ("batch_size",): _positive_int("it is the DataLoader's batch_size"),
    ("gradient_accumulation_steps",): _positive_int("the recipe steps the optimizer every N batches"),
    ("max_steps_per_epoch",): _positive_int("null means the whole epoch", null=True),
    ("log_every_n_steps",): _positive_int("the recipe logs when step % N == 0", null=True),
    ("seed",): Rule(f"a whole number from 0 to {SEED_MAX} or null",
                    lambda v: v is None or (_is_int(v) and 0 <= v <= SEED_MAX), "training.set_seed refuses others"),
    ("dtype",): Rule("one of " + ", ".join(DTYPE_NAMES), lambda v: v is None or v in DTYPE_NAMES,
                     "training.get_dtype accepts only these names", hint=lambda v: _dtype_hint(v)),
    ("device",): Rule("a torch device name such as cuda, cpu or cuda:0",
                      lambda v: isinstance(v, str) and re.fullmatch(r"[a-z_]+(:\d+)?", v) is not None),
    ("output_dir",): Rule("a non-empty string (a folder)", lambda v: isinstance(v, str) and v.strip() != ""),
    ("clip_grad_norm",): Rule("a positive number or null", lambda v: v is None or (_is_number(v) and v > 0),
                              "it is passed to clip_grad_norm_ as max_norm"),
    ("compile",): _flag(),
    ("shuffle",): _flag(),
    ("resume_from_checkpoint",): _flag(),
    ("save_adapter_weights_only",): _flag(),
    ("optimizer_in_bwd",): _flag(),
    ("log_peak_memory_stats",): _flag(),
    ("enable_activation_checkpointing",): _flag(),
    ("enable_activation_offloading",): _flag(),
    ("optimizer", "lr"): Rule("a positive number", lambda v: _is_number(v) and v > 0,
                              "torch optimizers refuse other learning rates"),
    ("optimizer", "weight_decay"): Rule("a number >= 0", lambda v: _is_number(v) and v >= 0),
    ("lr_scheduler", "num_warmup_steps"): Rule("a whole number >= 0", lambda v: _is_int(v) and v >= 0),
    ("model", "lora_rank"): _positive_int("it is the rank of the LoRA matrices"),
    ("model", "lora_alpha"): Rule("a positive number", lambda v: _is_number(v) and v > 0),
    ("model", "lora_dropout"): Rule("a number from 0 up to (not including) 1",
                                    lambda v: _is_number(v) and 0 <= v < 1, "it is a dropout probability"),
    ("model", "lora_attn_modules"): Rule(
        "a list of " + ", ".join(LORA_ATTN_MODULES),
        lambda v: isinstance(v, list) and all(isinstance(x, str) and x in LORA_ATTN_MODULES for x in v),
        hint=lambda v: _lora_modules_hint(v)),
    ("model", "apply_lora_to_mlp"): _flag(),
    ("model", "apply_lora_to_output"): _flag(),
    ("tokenizer", "max_seq_len"): _positive_int("it bounds the tokenized length", null=True),
    ("tokenizer", "path"): Rule("a string (a file)", lambda v: isinstance(v, str)),
    ("checkpointer", "checkpoint_dir"): Rule("a string (a folder)", lambda v: isinstance(v, str)),
    ("dataset", "packed"): _flag(),
}


def _dtype_hint(value: Any) -> str | None:
    if isinstance(value, str) and value in DTYPE_ALIASES:
        better = DTYPE_ALIASES[value]
        return f"torchtune calls it {better}" if better else "torchtune fine-tunes in fp16, bf16, fp32 or fp64"
    return did_you_mean(str(value), DTYPE_NAMES)


def _lora_modules_hint(value: Any) -> str | None:
    if not isinstance(value, list):
        return "write a list, e.g. [q_proj, v_proj]"
    bad = [x for x in value if not (isinstance(x, str) and x in LORA_ATTN_MODULES)]
    notes = []
    for x in bad:
        close = close_matches(str(x), LORA_ATTN_MODULES)
        notes.append(short_repr(x) + (f" (did you mean {close[0]}?)" if close else ""))
    return "not a LoRA attention module: " + ", ".join(notes) if notes else None


def _type_hint(rule: Rule, value: Any) -> str | None:
    """How to fix the common slips: quoted numbers and flags, 3.0 for 3, then the rule's own hint."""
    if isinstance(value, str):
        if rule.expect == "true or false" and value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            return "remove the quotes: a quoted true/false is a string"
        if "number" in rule.expect:
            try:
                float(value)
                return f"remove the quotes: OmegaConf reads {short_repr(value)} as a string, not a number"
            except ValueError:
                pass
    if isinstance(value, float) and value.is_integer() and "whole number" in rule.expect:
        return f"write {int(value)} (no decimal point): {value!r} is read as a float"
    return rule.hint(value) if rule.hint else None


# ---------------------------------------------------------------- the check


def _all_dotted(data: dict[str, Any]) -> list[str]:
    return [display_path(p) for p, _ in iter_nodes(data) if p and all(isinstance(k, str) for k in p)]


def _interpolation_hint(value: str, data: dict[str, Any]) -> str | None:
    """Suggest a path for a misspelt ``${key}``."""
    known = _all_dotted(data)
    for ref in _INTERPOLATION.findall(value):
        ref = ref.strip()
        if ":" in ref or ref.startswith(".") or ref in known:
            continue
        close = close_matches(ref, known, n=3)
        if close:
            return f"${{{ref}}} names no key of this config; did you mean " + \
                ", ".join("${" + c + "}" for c in close) + "?"
        return f"${{{ref}}} names no key of this config (interpolations are absolute dotted paths)"
    return None


def _resolve(cfg: Any, path: Key) -> Any:
    """The value at *path*, resolved by OmegaConf (raises what OmegaConf raises)."""
    from omegaconf import OmegaConf

    node = cfg
    for part in path:
        node = node[part]
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def check_static(path: Path, *, display: str, run_id: str) -> StaticResult:
    """Level 1 on one config file; never raises for problems in the file itself."""
    result = StaticResult(run_id=run_id)

    def issue(message: str, *, at: SourcePos | None, where: Key | None = None, hint: str | None = None,
              severity: str = "error") -> None:
        result.issues.append(Problem(message, pos=at, path=display_path(where) if where else None, hint=hint,
                                     severity=severity, run_id=run_id, level=1))  # type: ignore[arg-type]

    try:
        doc = read_yaml_file(path, display=display, what="config")
    except UserError as err:
        result.issues.extend(replace(p, run_id=run_id, level=1) for p in err.problems)
        return result
    data = doc.data
    if data is None:
        issue("config is empty", at=SourcePos(display, 1, 1), hint="render it again with ttgen render")
        return result
    if not isinstance(data, dict):
        issue(f"config must be a mapping of keys to values, not a {yaml_type_name(data)}", at=doc.pos(()))
        return result

    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.create(data)
    except Exception as exc:  # OmegaConf's own refusal, whatever its type
        issue(f"OmegaConf cannot load this config: {first_line(exc)}", at=SourcePos(display, 1, 1))
        return result

    resolved: dict[Key, Any] = {}
    failed: set[Key] = set()
    for where, value in iter_nodes(data):
        if not isinstance(value, str):
            continue
        if value == MANDATORY:
            failed.add(where)
            issue("value is ??? (OmegaConf's mandatory value that was never set)", at=doc.pos(where), where=where,
                  hint="set it under controls in experiment.yaml")
        elif "${" in value:
            try:
                resolved[where] = _resolve(cfg, where)
            except Exception as exc:  # any resolver may raise anything
                failed.add(where)
                if _ENV_RESOLVER in value:
                    issue(f"interpolation {short_repr(value)} does not resolve here: {first_line(exc)}",
                          at=doc.pos(where), where=where, severity="warning",
                          hint="the environment variable must be set where the job runs")
                else:
                    issue(f"interpolation {short_repr(value)} does not resolve: {first_line(exc)}",
                          at=doc.pos(where), where=where, hint=_interpolation_hint(value, data))

    _check_components(doc, data, resolved, failed, result, issue)
    _check_rules(doc, data, resolved, failed, issue)
    result.issues.sort(key=Problem.sort_key)
    return result


def _check_components(doc: YamlDocument, data: dict[str, Any], resolved: dict[Key, Any], failed: set[Key],
                      result: StaticResult, issue: Callable[..., None]) -> None:
    for where, node in iter_nodes(data):
        if not (isinstance(node, dict) and "_component_" in node):
            continue
        at = where + ("_component_",)
        if at in failed:
            continue
        name = resolved.get(at, node["_component_"])
        parts = name.split(".") if isinstance(name, str) else []
        if not isinstance(name, str):
            issue(f"_component_ must be a dotted Python name, not a {yaml_type_name(name)}", at=doc.pos(at), where=at,
                  hint="e.g. torchtune.models.llama3_2.lora_llama3_2_1b")
        elif len(parts) < 2 or not all(p.isidentifier() for p in parts):
            issue(f"_component_ {short_repr(name)} is not a dotted Python name (module.attribute)",
                  at=doc.pos(at), where=at,
                  hint="write the full import path, e.g. torch.optim.AdamW; relative names are not supported")
        else:
            keys = tuple(str(k) for k in node if k != "_component_")
            result.components.append(ComponentNode(
                path=where, name=name, keys=keys, pos=doc.pos(at),
                key_positions={k: doc.key_pos(where + (k,)) for k in keys}))


def _check_rules(doc: YamlDocument, data: dict[str, Any], resolved: dict[Key, Any], failed: set[Key],
                 issue: Callable[..., None]) -> None:
    for rule_path, rule in RULES.items():
        node = lookup(data, rule_path)
        if node is MISSING or rule_path in failed:
            continue
        value = resolved.get(rule_path, node)
        if rule.ok(value):
            continue
        shown = f"{yaml_type_name(value)} {short_repr(value)}" if value is not None else "null"
        via = f" (from {short_repr(node)})" if rule_path in resolved else ""
        why = f" ({rule.why})" if rule.why else ""
        issue(f"must be {rule.expect}{why}, got {shown}{via}", at=doc.pos(rule_path), where=rule_path,
              hint=_type_hint(rule, value))

