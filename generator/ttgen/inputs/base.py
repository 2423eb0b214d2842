"""Find and read the base config: a config torchtune ships, or a YAML file of the user's."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BaseConfigError, Problem
from ..text import shown_path
from ..tree import display_path
from ..yamlio.load import SPECIAL_FILE_HINT, YamlDocument, read_yaml_file, special_kind
from ..yamlio.types import yaml_type_name
from .catalog import load_catalog, torchtune_version
from .experiment import Experiment


@dataclass(frozen=True)
class BaseConfig:
    """The base config as read: its text, data, where it came from and its recipe."""

    source: str  # the shipped name, or the file as written in experiment.yaml
    kind: str  # "shipped" or "file"
    path: Path
    doc: YamlDocument
    recipe: str | None
    supports_distributed: bool | None
    torchtune_version: str | None

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    @property
    def sha256(self) -> str:
        """The sha256 of the exact bytes read (what manifest.yaml records)."""
        return hashlib.sha256(self.doc.raw).hexdigest()


def load_base_configs(exp: Experiment) -> list[BaseConfig]:
    """Every base config experiment.yaml names (one, or each of a list), in written order; the
    problems of all of them are raised together."""
    bases: list[BaseConfig] = []
    problems: list[Problem] = []
    for index in range(exp.base_count):
        try:
            bases.append(load_base_config(exp, index=index))
        except BaseConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise BaseConfigError(problems)
    return bases


def load_base_config(exp: Experiment, *, index: int = 0) -> BaseConfig:
    """Read the experiment's base config (*index*: which of a list); a `BaseConfigError` points at the line naming it."""
    item: tuple[int, ...] = (index,) if exp.base_list else ()
    if exp.base_config is not None:
        name = exp.base_configs[index] if exp.base_configs else exp.base_config
        pos = exp.doc.pos(("framework_config", "base_config") + item)
        where = display_path(("framework_config", "base_config") + item)
        try:
            cfg = load_catalog().get(name, pos=pos, path=where)
        except BaseConfigError as err:
            raise BaseConfigError([p if p.pos else Problem(p.message, pos=pos, path=where,
                                                            hint=p.hint) for p in err.problems]) from None
        doc = read_yaml_file(cfg.path, display=str(cfg.path), error_cls=BaseConfigError, what="base config")
        base = BaseConfig(source=name, kind="shipped", path=cfg.path, doc=doc,
                          recipe=exp.recipe or cfg.recipe, supports_distributed=cfg.supports_distributed,
                          torchtune_version=torchtune_version())
    else:
        assert exp.base_config_file is not None
        written = exp.doc.data["framework_config"]["base_config_file"]
        if isinstance(written, list):
            written = written[index]
        pos = exp.doc.pos(("framework_config", "base_config_file") + item)
        file = exp.base_config_files[index] if exp.base_config_files else exp.base_config_file
        where = display_path(("framework_config", "base_config_file") + item)
        try:
            mode: int | None = file.stat().st_mode  # through symbolic links: what will be read
        except OSError:  # missing, a dangling link or a link loop
            mode = None
        if mode is None:
            raise BaseConfigError([Problem(f"base config file {str(written)!r} not found (looked at {file})",
                                           pos=pos, path=where,
                                           hint="the path is relative to the folder of experiment.yaml")])
        if stat.S_ISDIR(mode):
            raise BaseConfigError([Problem(f"base config file {str(written)!r} is a folder", pos=pos, path=where,
                                           hint="name the .yaml file inside it")])
        if not stat.S_ISREG(mode):  # /dev/zero would be read forever, a FIFO would block
            target = file.resolve()
            link = f": it is a link to {target}" if target != file.absolute() else ""
            raise BaseConfigError([Problem(f"base config file {str(written)!r} is not a regular file "
                                           f"({special_kind(mode)}){link}", pos=pos, path=where,
                                           hint="name a .yaml file; " + SPECIAL_FILE_HINT)])
        doc = read_yaml_file(file, display=shown_path(file), error_cls=BaseConfigError, what="base config")
        base = BaseConfig(source=str(written), kind="file", path=file, doc=doc, recipe=exp.recipe,
                          supports_distributed=None, torchtune_version=torchtune_version())
    if not isinstance(base.doc.data, dict) or not base.doc.data:
        key = "base_config" if base.kind == "shipped" else "base_config_file"
        if base.doc.data is None or base.doc.data == {}:
            raise BaseConfigError([Problem(f"base config {base.doc.file} is empty",
                                           pos=exp.doc.pos(("framework_config", key) + item),
                                           path=display_path(("framework_config", key) + item),
                                           hint="point it at a torchtune config YAML with keys such as model: and optimizer:")])
        raise BaseConfigError([Problem(f"base config must be a mapping of config keys, got {yaml_type_name(base.doc.data)}",
                                       pos=base.doc.pos(()), hint="point base_config_file at a torchtune config YAML")])
    return base
