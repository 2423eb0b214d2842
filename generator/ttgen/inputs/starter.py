"""A commented starter experiment.yaml for a base config (``ttgen init``).

The starter names the base, sweeps one sensible knob, and lists the config's
most common knobs as commented-out controls with their base values, so a
researcher edits rather than types paths. It always renders as written.
Its first line points editors to the installed JSON Schema of experiment.yaml
(docs/editors-and-shells.md); YAML readers take it for a comment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import BaseConfigError, OutputError, Problem, SourcePos
from ..resources import experiment_schema_file
from ..tree import ConfigPath, PathTable, split_dotted
from ..yamlio.dump import flow_text
from ..yamlio.load import read_yaml_file
from .catalog import load_catalog

# (how the starter writes the key, the config path it resolves to), most useful first.
COMMON_KNOBS: tuple[tuple[str, str], ...] = (
    ("lora_rank", "model.lora_rank"),
    ("lora_alpha", "model.lora_alpha"),
    ("lora_dropout", "model.lora_dropout"),
    ("learning_rate", "optimizer.lr"),
    ("weight_decay", "optimizer.weight_decay"),
    ("warmup_steps", "lr_scheduler.num_warmup_steps"),
    ("batch_size", "batch_size"),
    ("gradient_accumulation_steps", "gradient_accumulation_steps"),
    ("epochs", "epochs"),
    ("max_steps_per_epoch", "max_steps_per_epoch"),
    ("seed", "seed"),
    ("dtype", "dtype"),
    ("dataset._component_", "dataset._component_"),
    ("dataset.packed", "dataset.packed"),
    ("tokenizer.max_seq_len", "tokenizer.max_seq_len"),
    ("checkpointer.checkpoint_dir", "checkpointer.checkpoint_dir"),
    ("tokenizer.path", "tokenizer.path"),
    ("output_dir", "output_dir"),
)

# The knob the starter sweeps, with two example values, in order of preference.
SWEEP_CANDIDATES: tuple[tuple[str, str, str], ...] = (
    ("lora_rank", "model.lora_rank", "[8, 16]"),
    ("learning_rate", "optimizer.lr", "[1e-5, 3e-5]"),
    ("seed", "seed", "[1, 2]"),
)


SCHEMA_COMMENT = "# yaml-language-server: $schema="


def schema_line() -> str | None:
    """The first line of a starter: editors with the YAML language server (VS Code's YAML
    extension, Neovim, ...) then check and complete the file against ttgen's own JSON Schema.

    It names the schema of the installed ttgen, so it matches the version that renders the
    file; None when the schema is not a file on disk.
    """
    schema = experiment_schema_file()
    return None if schema is None else SCHEMA_COMMENT + schema.as_uri()


def _name_for(base: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", base.removesuffix(".yaml")).strip("_.")
    return (stem or "experiment")[:90] + "_study"


def _same_file(a: Path, b: Path) -> bool:
    """Whether *a* and *b* are one file: the same resolved path, or the same inode (a hard link)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, RuntimeError):
        return False


def _refuse_own_input(source: Path, out: Path) -> None:
    if _same_file(source, out):
        raise OutputError([Problem("--out is the base config it reads; ttgen init never overwrites its own input",
                                   pos=SourcePos(str(out)), hint="choose another file with --out")])


def starter_experiment(base: str, *, out: Path) -> str:
    """Text of a starter experiment.yaml for *base* (a shipped name or a YAML file) written at *out*.

    Raises `OutputError` when *out* is the base config itself (whatever the spelling of
    the path, or a link to it).
    """
    file = Path(base)
    if base.endswith((".yaml", ".yml")) and file.is_file():
        _refuse_own_input(file, out)
        doc = read_yaml_file(file, error_cls=BaseConfigError, what="base config")
        rel = Path(os.path.relpath(file.resolve(), out.resolve().parent))
        source_line = (f"  base_config_file: {flow_text(str(rel))}\n"
                       "  # recipe: lora_finetune_single_device  # the recipe this config is for (needed for slurm:)\n")
        recipe = None
    else:
        catalog_entry = load_catalog().get(base, pos=SourcePos("<command line>"))
        _refuse_own_input(Path(catalog_entry.path), out)
        doc = read_yaml_file(catalog_entry.path, error_cls=BaseConfigError, what="base config")
        source_line = f"  base_config: {base}\n"
        recipe = catalog_entry.recipe
    if not isinstance(doc.data, dict):
        raise BaseConfigError([Problem("base config is not a mapping", pos=SourcePos(str(file)),
                                              hint="a base config is a YAML mapping of keys to values, as torchtune's configs are")])
    table = PathTable.from_tree(doc.data)

    def base_value(path: str) -> Any:
        return table.entries.get(split_dotted(path))

    sweep = next(((k, p, v) for k, p, v in SWEEP_CANDIDATES if split_dotted(p) in table), None)
    schema = schema_line()
    lines = [schema] if schema else []
    lines += [
        f"# Starter experiment for {base}" + (f" (recipe: {recipe})" if recipe else "") + ", written by `ttgen init`.",
        "# Edit it, check the runs with `ttgen render experiment.yaml --dry-run`, then render.",
        "# Keys resolve to the base config's dotted paths (docs/experiment.md: how keys are resolved).",
        "experiment:",
        f"  name: {_name_for(base)}",
        "  framework: torchtune",
        '  question: "What does this experiment test?"',
        '  hypothesis: "What do you expect, and why?"',
        "framework_config:",
        source_line.rstrip("\n"),
        "variables:",
    ]
    if sweep:
        key, path, values = sweep
        shown = doc.plain_text.get(split_dotted(path)) or flow_text(base_value(path))
        lines.append(f"  {key}: {values}  # {path}; base value: {shown}")
    else:
        lines.append("  # name: [value1, value2]  # each variable is a list of values; runs are their grid")
    lines += ["controls:",
              "  # Common knobs of this config, with their base values; uncomment to hold one constant:"]
    for key, path in COMMON_KNOBS:
        cpath: ConfigPath = split_dotted(path)
        if cpath not in table or (sweep and path == sweep[1]):
            continue
        value = table.entries[cpath]
        shown = doc.plain_text.get(cpath) or (flow_text(value) if not isinstance(value, dict) else "{...}")
        note = f"  # {path}" if key != path else ""
        lines.append(f"  # {key}: {shown}{note}")
    lines += [
        "# delete: [profiler]          # dotted paths to remove from the base first",
        "# sweep:",
        "#   zip: [[lora_rank, lora_alpha]]    # variables that advance together",
        "#   exclude: [{lora_rank: 16, learning_rate: 3e-5}]",
        "# Derived values: lora_alpha: \"{{ 2 * lora_rank }}\" (a Jinja expression per run)",
    ]
    return "\n".join(lines) + "\n"

