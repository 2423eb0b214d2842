"""Level 1 of ``ttgen validate``: what can be checked in a config without importing torch.

Each config is read with `ttgen.yamlio.load.read_yaml_file` (OmegaConf's typing, and a
position for every key and value) and built into an OmegaConf ``DictConfig``
exactly as torchtune builds it from the file's contents. Then:

- every ``${...}`` interpolation is resolved through OmegaConf, one node at a
  time, so each failure names its own path; each key once, in dependency order
  (`_Resolver`), and a value over `MAX_RESOLVED` is a problem, not a hang;
- every ``_component_``, at any depth and inside lists, is a dotted Python name;
- the keys recipes read directly (``epochs``, ``batch_size``, ``dtype``,
  ``optimizer.lr``, ...) hold values of the types the recipes need, judged on
  the resolved value.

No message holds a resolved environment value (``${oc.env:NAME}``): rules show the
interpolation as written, a ``_component_`` from the environment is not passed to
level 2, and every message is scrubbed of the values the config reads
(`StaticResult.secrets`, docs/validate.md).

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
_ENV_NAME = re.compile(r"oc\.env\s*:\s*['\"]?([^,'\"${}\s]+)")
_PLAIN_REF = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*")  # an absolute path: a.b, a.b[0], a.0
MANDATORY = "???"  # OmegaConf's "mandatory value, not set yet"
# The longest text an interpolation may resolve to: longer is a problem, not a hang (docs/validate.md).
MAX_RESOLVED = 1 << 20  # 1 MiB, in characters
SECRET_MIN = 4  # environment values shorter than this are not searched for in messages (they would garble them)


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
    # resolved environment value -> the interpolation as written; never shown (docs/validate.md)
    secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # The config as read (values and positions), so level 2 need not read the file again.
    doc: YamlDocument | None = field(default=None, repr=False, compare=False)

    def scrub(self, text: str) -> str:
        """*text* with every environment value this config resolves written as its interpolation."""
        return scrub_text(text, self.secrets)


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


def _type_hint(rule: Rule, value: Any) -> str:
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
    if isinstance(value, float) and math.isfinite(value) and "whole number" in rule.expect:
        return f"write a whole number, e.g. {max(1, round(value))}"
    own = rule.hint(value) if rule.hint else None
    return own or f"set it to {rule.expect}"


# ---------------------------------------------------------------- the check


def _all_dotted(data: dict[str, Any]) -> list[str]:
    return [display_path(p) for p, _ in iter_nodes(data) if p and all(isinstance(k, str) for k in p)]


INTERPOLATION_HINT = ("${a.b} names a key of this config by its absolute dotted path; ${oc.env:VAR} reads an "
                      "environment variable; write \\${...} for a literal ${")
_MISSING_ENV = re.compile(r"Environment variable '([^']+)' not found")


def _interpolation_hint(value: str, data: dict[str, Any]) -> str:
    """Suggest a path for a misspelt ``${key}``; else say how interpolations are written."""
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
    return INTERPOLATION_HINT


def _resolve(cfg: Any, path: Key) -> Any:
    """The value at *path*, resolved by OmegaConf (raises what OmegaConf raises)."""
    from omegaconf import OmegaConf

    node = cfg
    for part in path:
        node = node[part]
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def scrub_text(text: str, secrets: dict[str, str]) -> str:
    """*text* with each secret (a resolved environment value) replaced by the interpolation it came from."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, secrets[secret])
    return text


def scrub_problem(problem: Problem, secrets: dict[str, str]) -> Problem:
    if not secrets:
        return problem
    return replace(problem, message=scrub_text(problem.message, secrets),
                   hint=scrub_text(problem.hint, secrets) if problem.hint else problem.hint)


def _environment_secrets(data: Any) -> dict[str, str]:
    """The values of the environment variables the config reads (``${oc.env:NAME}``), each mapped to how it is read."""
    import os

    secrets: dict[str, str] = {}
    for _, value in iter_nodes(data):
        if isinstance(value, str) and _ENV_RESOLVER in value.replace(" ", ""):
            for name in _ENV_NAME.findall(value):
                found = os.environ.get(name)
                if found is not None and len(found) >= SECRET_MIN:
                    secrets[found] = "${oc.env:" + name + "}"
    return secrets


class TooLong(Exception):
    """An interpolation that expands beyond `MAX_RESOLVED`, at once or through another one."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _ref_path(ref: str) -> Key | None:
    """The document path of a plain absolute interpolation ``${a.b[0]}``; None for a resolver or a relative one."""
    ref = ref.strip()
    if not _PLAIN_REF.fullmatch(ref):
        return None
    parts: list[Any] = []
    for piece in ref.replace("[", ".[").split("."):
        if piece.startswith("["):
            parts.append(int(piece[1:-1]))
        else:
            parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


class _Resolver:
    """Resolves each interpolated value once, in dependency order, writing results back into the config.

    OmegaConf resolves ``${a}`` afresh at every use, so a chain ``a1: ${a0}${a0}``,
    ``a2: ${a1}${a1}``, ... costs 2**n. Here every value a string refers to is
    resolved first (memoised) and replaced in the config by its result, so each key is
    resolved once. A result longer than `MAX_RESOLVED` raises `TooLong` instead of
    growing on.
    """

    def __init__(self, cfg: Any, data: dict[str, Any]) -> None:
        self.cfg, self.data = cfg, data
        self.done: dict[Key, Any] = {}
        self.failed: dict[Key, Exception] = {}
        self.active: set[Key] = set()
        self.env: dict[Key, bool] = {}

    def _refs(self, value: str) -> list[Key]:
        out = []
        for ref in _INTERPOLATION.findall(value):
            path = _ref_path(ref)
            if path is not None and lookup(self.data, path) is not MISSING:
                out.append(path)
        return out

    def _strings_at(self, path: Key) -> list[Key]:
        """The interpolated strings at *path*: itself, or the ones below a mapping or list."""
        return [path + sub for sub, v in iter_nodes(lookup(self.data, path)) if isinstance(v, str) and "${" in v]

    def env_dependent(self, where: Key) -> bool:
        """Whether the value at *where* may resolve to (or through) an environment value."""
        if where in self.env:
            return self.env[where]
        self.env[where] = False  # a cycle adds nothing
        value = lookup(self.data, where)
        found = False
        if isinstance(value, str) and "${" in value:
            inner = _INTERPOLATION.findall(value)
            if _ENV_RESOLVER in value.replace(" ", "") or any(":" in ref for ref in inner):
                found = True  # oc.env, or a resolver whose arguments may lead to it
            else:
                found = any(self.env_dependent(s) for ref in self._refs(value) for s in self._strings_at(ref))
        self.env[where] = found
        return found

    def resolve(self, where: Key) -> Any:
        if where in self.done:
            return self.done[where]
        if where in self.failed:
            raise self.failed[where]
        if where in self.active:
            return _resolve(self.cfg, where)  # a cycle: OmegaConf says so
        self.active.add(where)
        try:
            value = lookup(self.data, where)
            refs = self._refs(value) if isinstance(value, str) else []
            size = len(value) if isinstance(value, str) else 0
            for ref in refs:
                for dep in self._strings_at(ref):
                    if dep == where:
                        continue
                    try:
                        self.resolve(dep)
                    except TooLong:
                        raise TooLong(f"{'${' + display_path(ref) + '}'} expands to more than 1 MiB") from None
                    except Exception:  # noqa: BLE001 - OmegaConf reports it below, on this value too
                        pass
                got = self.done.get(ref, lookup(self.data, ref))
                size += len(got) if isinstance(got, str) else 0
            if size > MAX_RESOLVED:
                raise TooLong("expands to more than 1 MiB")
            result = _resolve(self.cfg, where)
            if isinstance(result, str) and len(result) > MAX_RESOLVED:
                raise TooLong("expands to more than 1 MiB")
        except Exception as exc:
            self.failed[where] = exc
            raise
        finally:
            self.active.discard(where)
        self.done[where] = result
        self._write_back(where, result)
        return result

    def _write_back(self, where: Key, result: Any) -> None:
        """Put a resolved scalar in place of its interpolation, so later uses do not resolve it again."""
        if isinstance(result, (dict, list)) or (isinstance(result, str) and ("${" in result or "\\" in result)):
            return
        try:
            node = self.cfg
            for part in where[:-1]:
                node = node[part]
            node[where[-1]] = result
        except Exception:  # noqa: BLE001 - only an optimisation
            pass


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
    result.doc = doc
    data = doc.data
    if data is None:
        issue("config is empty", at=SourcePos(display, 1, 1), hint="render it again with ttgen render")
        return result
    if not isinstance(data, dict):
        issue(f"config must be a mapping of keys to values, not a {yaml_type_name(data)}", at=doc.pos(()),
              hint="render it again with ttgen render")
        return result

    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.create(data)
    except Exception as exc:  # OmegaConf's own refusal, whatever its type
        issue(f"OmegaConf cannot load this config: {first_line(exc)}", at=SourcePos(display, 1, 1),
              hint="torchtune loads configs with OmegaConf too: fix what it names, or render the config again")
        return result

    resolved: dict[Key, Any] = {}
    failed: set[Key] = set()
    unset_env: dict[str, list[Key]] = {}  # an environment variable not set here -> the keys that read it
    resolver = _Resolver(cfg, data)
    result.secrets = _environment_secrets(data)
    for where, value in iter_nodes(data):
        if not isinstance(value, str):
            continue
        if value == MANDATORY:
            failed.add(where)
            issue("value is ??? (OmegaConf's mandatory value that was never set)", at=doc.pos(where), where=where,
                  hint="set it under controls in experiment.yaml")
        elif "${" in value:
            try:
                resolved[where] = resolver.resolve(where)
            except TooLong as exc:
                failed.add(where)
                size = "" if exc.message.startswith("expands") else "does not resolve: "
                issue(f"interpolation {short_repr(value)} {size}{exc.message}", at=doc.pos(where), where=where,
                      hint="interpolations that repeat others grow fast (each level can double the text); "
                           "write the value itself")
            except Exception as exc:  # any resolver may raise anything
                failed.add(where)
                missing = _MISSING_ENV.search(str(exc))
                if missing:
                    # Clusters often set these only inside jobs: one warning per variable, below,
                    # and no error for the keys that read it directly or through another key.
                    unset_env.setdefault(missing[1], []).append(where)
                elif _ENV_RESOLVER in value:
                    issue(f"interpolation {short_repr(value)} does not resolve here: {first_line(exc)}",
                          at=doc.pos(where), where=where, severity="warning",
                          hint="the environment variable must be set where the job runs")
                else:
                    issue(f"interpolation {short_repr(value)} does not resolve: {first_line(exc)}",
                          at=doc.pos(where), where=where, hint=_interpolation_hint(value, data))

    for name, wheres in unset_env.items():
        direct = [w for w in wheres if f"oc.env:{name}" in str(lookup(data, w)).replace(" ", "")] or wheres
        keys = ", ".join(display_path(w) for w in wheres[:6]) + (" ..." if len(wheres) > 6 else "")
        issue(f"environment variable {name} is not set here; {len(wheres)} key{'s' if len(wheres) != 1 else ''} "
              f"read it ({keys}), so their values are not checked", at=doc.pos(direct[0]), where=direct[0],
              severity="warning",
              hint=f"fine when {name} is set where the job runs (clusters often set such variables only inside "
                   f"jobs); to check them here, export {name} before validating")
    from_env = {where for where in resolved if resolver.env_dependent(where)}
    _check_components(doc, data, resolved, failed, result, issue, from_env)
    _check_rules(doc, data, resolved, failed, issue, from_env)
    # Belt and braces: no message carries a resolved environment value, whatever produced it.
    result.issues = sorted((scrub_problem(p, result.secrets) for p in result.issues), key=Problem.sort_key)
    return result


def component_name_problem(name: Any, *, shown: Any = MISSING) -> tuple[str, str] | None:
    """Why *name* is not a ``_component_`` (message, hint), or None when it is a dotted Python name.

    *shown*: what the message shows instead of *name* (the interpolation as written, when
    *name* came from the environment).
    """
    if not isinstance(name, str):
        return (f"_component_ must be a dotted Python name, not a {yaml_type_name(name)}",
                "e.g. torchtune.models.llama3_2.lora_llama3_2_1b")
    parts = name.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return (f"_component_ {short_repr(name if shown is MISSING else shown)} is not a dotted Python name "
                "(module.attribute)",
                "write the full import path, e.g. torch.optim.AdamW; relative names are not supported")
    return None


def rule_problem(rule_path: Key, value: Any, *, written: Any = MISSING) -> tuple[str, str] | None:
    """What is wrong with *value* at a well-known key (message, hint), or None when it fits its rule.

    *written*: the interpolation *value* was resolved from, named in the message.
    """
    rule = RULES.get(tuple(str(k) for k in rule_path))
    if rule is None or rule.ok(value):
        return None
    shown = f"{yaml_type_name(value)} {short_repr(value)}" if value is not None else "null"
    via = f" (from {short_repr(written)})" if written is not MISSING else ""
    why = f" ({rule.why})" if rule.why else ""
    return f"must be {rule.expect}{why}, got {shown}{via}", _type_hint(rule, value)


def _check_components(doc: YamlDocument, data: dict[str, Any], resolved: dict[Key, Any], failed: set[Key],
                      result: StaticResult, issue: Callable[..., None], from_env: set[Key]) -> None:
    for where, node in iter_nodes(data):
        if not (isinstance(node, dict) and "_component_" in node):
            continue
        at = where + ("_component_",)
        if at in failed:
            continue
        name = resolved.get(at, node["_component_"])
        # Never an environment value in the message: the interpolation as written instead.
        wrong = component_name_problem(name, shown=node["_component_"] if at in from_env else MISSING)
        if wrong is not None:
            issue(wrong[0], at=doc.pos(at), where=at, hint=wrong[1])
        elif at in from_env:
            # Its value where the job runs is not known here, and level 2's messages would show it.
            issue(f"_component_ comes from the environment ({short_repr(node['_component_'])}); it is not imported "
                  "or bound here", at=doc.pos(at), where=at, severity="warning",
                  hint="its value where the job runs decides; write the name in experiment.yaml to have it checked")
        else:
            assert isinstance(name, str)  # component_name_problem refuses anything else
            keys = tuple(str(k) for k in node if k != "_component_")
            result.components.append(ComponentNode(
                path=where, name=name, keys=keys, pos=doc.pos(at),
                key_positions={k: doc.key_pos(where + (k,)) for k in keys}))


def _check_rules(doc: YamlDocument, data: dict[str, Any], resolved: dict[Key, Any], failed: set[Key],
                 issue: Callable[..., None], from_env: set[Key]) -> None:
    for rule_path, rule in RULES.items():
        node = lookup(data, rule_path)
        if node is MISSING or rule_path in failed:
            continue
        value = resolved.get(rule_path, node)
        if rule.ok(value):
            continue
        if rule_path in from_env:
            # The interpolation as written, never what the environment gave it (docs/validate.md).
            issue(f"must be {rule.expect}{f' ({rule.why})' if rule.why else ''}, got {yaml_type_name(value)} from "
                  f"{short_repr(node)} (the resolved value is not shown: it comes from the environment)",
                  at=doc.pos(rule_path), where=rule_path,
                  hint=f"set the environment variable to {rule.expect} where the job runs, or write the value "
                       "in experiment.yaml")
            continue
        wrong = rule_problem(rule_path, value, written=node if rule_path in resolved else MISSING)
        assert wrong is not None  # the rule refused it above
        issue(wrong[0], at=doc.pos(rule_path), where=rule_path, hint=wrong[1])

