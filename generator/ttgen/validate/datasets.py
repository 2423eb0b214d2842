"""Level 2 of ``ttgen validate``, for datasets: what a builder passes on to Hugging Face's ``load_dataset``.

torchtune 0.6.1's dataset builders (``instruct_dataset``, ``chat_dataset``, ``alpaca_dataset``,
the multimodal ones, ...) take ``source`` and ``**load_dataset_kwargs`` and call
``datasets.load_dataset(source, **load_dataset_kwargs)`` (torchtune/datasets/_sft.py). So a
key the builder does not name is not refused by its signature: it reaches ``load_dataset`` when
the job starts, and fails there (``JsonConfig.__init__() got an unexpected keyword argument
'data_file'``). The component check (`ttgen.validate.components`) binds keys to the builder's
signature only; this module follows them one step further.

When ``source`` names one of the builders packaged with ``datasets`` (json, csv, parquet, text,
arrow, pandas, webdataset, imagefolder, ...), every key the builder would pass on must be

- a parameter of ``load_dataset`` itself (``data_files``, ``split``, ``name``, ``streaming``, ...,
  read from ``inspect.signature(datasets.load_dataset)``), or of ``DatasetBuilder.__init__``
  (which ``load_dataset`` passes the rest to: ``writer_batch_size``, ...), or
- a field of that builder's config class (``JsonConfig``: ``field``, ``encoding``, ...;
  ``CsvConfig``: ``delimiter``, ``sep``, ...), read with `dataclasses.fields` from the
  builder class's ``BUILDER_CONFIG_CLASS``.

Anything else is an error with a "did you mean". Local ``data_files`` that do not exist here
are warnings: the cluster may mount data where this machine has none.

``datasets`` offers no public list of its packaged builders; the one ``load_dataset`` itself
consults is ``datasets.packaged_modules._PACKAGED_DATASETS_MODULES`` (name -> module path), so
that is read (the builder class is found in the module as ``load_dataset`` finds it: the
concrete `datasets.DatasetBuilder` subclass defined there). When ``datasets`` cannot be imported,
or no longer has that table, these checks are skipped without a word: they are an extra.

A ``source`` that is not a packaged builder (a Hub name like ``yahma/alpaca-cleaned``, a local
folder) is not checked: that would need the network or the dataset's own files. A value written
as an interpolation (``${...}``) is not checked either: it may come from the environment, whose
values are never shown (docs/validate.md).

The checker reads each config once more (ComponentNode carries the keys of a component, not
their values) and verifies it is the file level 1 read, by the keys' positions.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import Problem, UserError
from ..text import close_matches, short_repr
from ..tree import Key, display_path, lookup
from ..yamlio.load import YamlDocument, read_yaml_file
from .static import ComponentNode

# torchtune's builders name their pass-through parameter so; a builder without it does not
# call load_dataset with the config's extra keys, so there is nothing to follow.
PASSTHROUGH = "load_dataset_kwargs"
MAX_LISTED = 12
MAX_SHOWN = 400  # a path is shown whole (short_repr cuts at 60 characters), up to this
# Schemes and Hub paths fsspec opens remotely: not a local path to look for.
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB = re.compile(r"[*?\[]")

# (config path of the component mapping, key, new component) -> a hint, or None
LeftoverHint = Callable[[tuple[Any, ...], str, str], "str | None"]


@dataclass(frozen=True)
class LoaderOptions:
    """What ``load_dataset(source, ...)`` accepts for one packaged builder."""

    source: str
    config_class: str  # the builder's config class, as messages name it (JsonConfig)
    load_params: tuple[str, ...]  # load_dataset's and DatasetBuilder.__init__'s keyword parameters
    config_fields: tuple[str, ...]  # the init fields of the builder's config dataclass
    own_fields: tuple[str, ...] = ()  # those not every BuilderConfig has (name, data_files, ...): listed in hints

    def accepts(self, key: str) -> bool:
        return key in self.load_params or key in self.config_fields


class PackagedBuilders:
    """The builders packaged with ``datasets`` and the options each takes; ``datasets`` is imported on first use."""

    def __init__(self) -> None:
        self._modules: dict[str, str] | None = None  # source name -> module path; {} when unavailable
        self._load_params: tuple[str, ...] = ()
        self._options: dict[str, LoaderOptions | None] = {}

    def _load(self) -> dict[str, str]:
        if self._modules is not None:
            return self._modules
        self._modules = {}
        try:
            datasets = importlib.import_module("datasets")
            packaged = importlib.import_module("datasets.packaged_modules")
            table = getattr(packaged, "_PACKAGED_DATASETS_MODULES")
            load_sig = inspect.signature(datasets.load_dataset)
            builder_sig = inspect.signature(datasets.DatasetBuilder.__init__)
        except Exception:  # noqa: BLE001 - without datasets (or with an unknown one) the checks are skipped
            return self._modules
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        # `path` is taken by source (passed by position): the same key again would be a second value.
        names = [p.name for sig in (load_sig, builder_sig) for p in sig.parameters.values()
                 if p.kind in keyword and p.name not in ("self", "path")]
        self._load_params = tuple(dict.fromkeys(names))
        self._modules = {str(k): v[0] if isinstance(v, tuple) else str(v) for k, v in dict(table).items()}
        return self._modules

    @property
    def available(self) -> bool:
        """Whether ``datasets`` could be imported and its packaged builders listed."""
        return bool(self._load())

    def names(self) -> list[str]:
        """The packaged builders' names (json, csv, ...), sorted."""
        return sorted(self._load())

    def options(self, source: str) -> LoaderOptions | None:
        """What ``load_dataset(source)`` takes, or None when *source* is no packaged builder (or unknown)."""
        if source in self._options:
            return self._options[source]
        module_path = self._load().get(source)
        self._options[source] = found = None if module_path is None else self._read(source, module_path)
        return found

    def _read(self, source: str, module_path: str) -> LoaderOptions | None:
        try:
            from datasets import BuilderConfig, DatasetBuilder

            module = importlib.import_module(module_path)
        except Exception:  # noqa: BLE001 - a builder needing a missing extra: not checked
            return None
        # As datasets.load.import_main_class finds it: the concrete DatasetBuilder defined in the module.
        builder = next((obj for obj in vars(module).values()
                        if inspect.isclass(obj) and issubclass(obj, DatasetBuilder) and not inspect.isabstract(obj)
                        and obj.__module__ == module.__name__), None)
        config_cls = getattr(builder, "BUILDER_CONFIG_CLASS", None)
        if not (inspect.isclass(config_cls) and issubclass(config_cls, BuilderConfig)
                and dataclasses.is_dataclass(config_cls)):
            return None
        fields = tuple(f.name for f in dataclasses.fields(config_cls) if f.init)
        common = {f.name for f in dataclasses.fields(BuilderConfig)}
        return LoaderOptions(source=source, config_class=config_cls.__name__, load_params=self._load_params,
                             config_fields=fields, own_fields=tuple(f for f in fields if f not in common))


class _ConfigValues:
    """The values of a config's component mappings, read again from its file (the last file only)."""

    def __init__(self) -> None:
        self._file: Path | None = None
        self._doc: YamlDocument | None = None

    def document(self, node: ComponentNode, *, config_file: Path | None) -> YamlDocument | None:
        """The document holding *node*: *config_file*, or the file its positions name; None when it cannot be read."""
        path = config_file if config_file is not None else Path(node.pos.file)
        if path != self._file:
            self._file, self._doc = path, None
            try:
                if path.is_file():
                    self._doc = read_yaml_file(path, display=node.pos.file, what="config")
            except (UserError, OSError):  # level 1 has reported what is wrong with it
                self._doc = None
        doc = self._doc
        if doc is None or not _same_mapping(doc, node):
            return None
        return doc


def _same_mapping(doc: YamlDocument, node: ComponentNode) -> bool:
    """Whether *doc* holds *node* where level 1 saw it: same component, same keys, at the same positions.

    Guards against reading another file of the same name when no *config_file* is given
    (``render --validate`` names configs relative to the output folder, not the current one).
    """
    mapping = lookup(doc.data, node.path)
    if not isinstance(mapping, dict) or tuple(str(k) for k in mapping if k != "_component_") != node.keys:
        return False
    name = mapping.get("_component_")
    if not isinstance(name, str) or (name != node.name and _literal(name)):
        return False
    return all(doc.key_pos(node.path + (k,)) == pos for k, pos in node.key_positions.items())


def _literal(value: Any) -> bool:
    """A value as written, with no interpolation in it (those may hold environment values)."""
    return not (isinstance(value, str) and "${" in value)


class DatasetChecker:
    """Checks dataset builders' pass-through keys and local data files; caches for the whole process."""

    def __init__(self) -> None:
        self.builders = PackagedBuilders()
        self._values = _ConfigValues()
        self._keys: dict[tuple[str, tuple[str, ...], str], list[tuple[str, str, str]]] = {}
        self._exists: dict[tuple[str, bool], bool] = {}

    def check(self, node: ComponentNode, signature: inspect.Signature, *, run_id: str,
              reported: frozenset[str] = frozenset(), leftover: LeftoverHint | None = None,
              config_file: Path | None = None, document: YamlDocument | None = None) -> list[Problem]:
        """Problems of one dataset component (none when it is not a builder that calls load_dataset).

        *reported*: keys the signature check already reported (not reported twice).
        """
        params = signature.parameters
        passthrough = params.get(PASSTHROUGH)
        if passthrough is None or passthrough.kind is not inspect.Parameter.VAR_KEYWORD or "source" not in params:
            return []
        if not self.builders.available:
            return []
        if "source" in node.keys:
            # The config as level 1 read it, when given: reading 1,000 files again would cost seconds.
            doc = document if document is not None else self._values.document(node, config_file=config_file)
            if doc is None:
                return []
            mapping = lookup(doc.data, node.path)
            source: Any = mapping.get("source")
        else:  # the builder's own default: a Hub name for every torchtune builder that has one
            doc, mapping, source = None, {}, params["source"].default
        if not isinstance(source, str) or not _literal(source):
            return []
        options = self.builders.options(source)
        if options is None:
            return []  # a Hub dataset or a local folder: not checked without the network or its files
        issues = self._key_problems(node, signature, options, run_id=run_id, reported=reported, leftover=leftover)
        if doc is not None and "data_files" in node.keys:
            issues.extend(self._file_problems(node, doc, mapping, run_id=run_id))
        return issues

    # ---------------------------------------------------------------- keys

    def _key_problems(self, node: ComponentNode, signature: inspect.Signature, options: LoaderOptions, *,
                      run_id: str, reported: frozenset[str], leftover: LeftoverHint | None) -> list[Problem]:
        cache_key = (node.name, node.keys, options.source)
        found = self._keys.get(cache_key)
        if found is None:
            found = self._keys[cache_key] = self._unknown_keys(node, signature, options)
        issues = []
        for key, message, suggestion in found:
            if key in reported:
                continue
            left = leftover(node.path, key, node.name) if leftover else None
            # The left-over explanation says how to drop the key; the suggestion says what was meant.
            hint = f"{left}; {suggestion}" if left and suggestion.startswith("did you mean") else (left or suggestion)
            issues.append(Problem(message, pos=node.key_positions.get(key, node.pos),
                                  path=(node.dotted + "." if node.path else "") + key, hint=hint,
                                  run_id=run_id, level=2))
        return issues

    @staticmethod
    def _unknown_keys(node: ComponentNode, signature: inspect.Signature,
                      options: LoaderOptions) -> list[tuple[str, str, str]]:
        """(key, message, hint) for each key the builder would pass to load_dataset, which does not take it."""
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        own = [p.name for p in signature.parameters.values() if p.kind in keyword]
        unset = [p for p in own if p not in node.keys]
        out = []
        for key in node.keys:
            if key in own or options.accepts(key):
                continue
            message = (f"{key} is not a parameter of {node.name}; it would be passed to "
                       f"load_dataset({options.source!r}), which does not take it")
            out.append((key, message, _hint(key, node=node, unset=unset, options=options)))
        return out

    # ---------------------------------------------------------------- data files

    def _file_problems(self, node: ComponentNode, doc: YamlDocument, mapping: Mapping[str, Any], *,
                       run_id: str) -> list[Problem]:
        data_files = mapping.get("data_files")
        base = Path.cwd()
        data_dir = mapping.get("data_dir")
        relative_to = "the current folder"
        if data_dir is not None:
            # load_dataset resolves relative data_files against data_dir; one it cannot place, none are checked.
            if not isinstance(data_dir, str) or not _literal(data_dir) or _REMOTE.match(data_dir):
                return []
            base = Path(data_dir).expanduser()
            relative_to = f"data_dir {short_repr(data_dir, MAX_SHOWN)}"
        issues = []
        for where, pattern in _patterns(data_files, node.path + ("data_files",)):
            if not _literal(pattern) or _REMOTE.match(pattern) or not pattern.strip():
                continue
            path = Path(pattern).expanduser()
            full = path if path.is_absolute() else base / path
            is_glob = bool(_GLOB.search(pattern))
            if self._present(str(full), is_glob=is_glob):
                continue
            shown = short_repr(pattern, MAX_SHOWN)
            if is_glob:
                message = f"data_files pattern {shown} matches no file on this machine"
            else:
                message = f"data_files path {shown} does not exist on this machine"
            if not path.is_absolute():
                message += f" (looked up from {relative_to})"
            hint = ("fine if the cluster has it there (jobs may see data this machine does not); otherwise "
                    "fix data_files, or load_dataset fails when the job starts")
            if not path.is_absolute():
                hint += "; a relative path is read from the job's working folder: an absolute one is safer"
            issues.append(Problem(message, pos=doc.pos(where), path=display_path(where), hint=hint, severity="warning",
                                  run_id=run_id, level=2))
        return issues

    def _present(self, path: str, *, is_glob: bool) -> bool:
        """Whether a file is there (for a pattern: whether any file matches); cached, sweeps repeat paths."""
        key = (path, is_glob)
        hit = self._exists.get(key)
        if hit is None:
            if is_glob:
                hit = any(os.path.isfile(p) for p in glob.iglob(path, recursive=True))
            else:
                hit = os.path.exists(path)
            self._exists[key] = hit
        return hit


def _patterns(value: Any, where: Key) -> list[tuple[Key, str]]:
    """Every path string of a ``data_files`` value (a string, a list, or a mapping of split -> either)."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, list):
        return [(where + (i,), v) for i, v in enumerate(value) if isinstance(v, str)]
    if isinstance(value, dict):
        return [found for split, v in value.items() for found in _patterns(v, where + (split,))]
    return []


def _hint(key: str, *, node: ComponentNode, unset: list[str], options: LoaderOptions) -> str:
    """Did you mean (a typo of an option, or the builder's own parameter for the same thing), else what is taken."""
    if key == "path":
        return "source is what load_dataset receives as its path: remove path, or set source"
    loader = [n for n in (*options.load_params, *options.config_fields) if n not in node.keys]
    close = close_matches(key, list(dict.fromkeys(unset + loader)), n=3)
    if not close:
        # A torchtune option of another builder (column_map on chat_dataset): the parameter that
        # shares a word with it is the one this builder has for the same thing.
        words = set(key.split("_")) - {""}
        close = [p for p in unset if words & set(p.split("_"))][:3]
    short = node.name.rpartition(".")[2]
    if close:
        return f"did you mean {', '.join(close)}? Otherwise remove {key}"
    if not options.own_fields:
        return f"remove {key}: neither {short} nor load_dataset({options.source!r}) takes it"
    more = ", ..." if len(options.own_fields) > MAX_LISTED else ""
    return (f"remove {key}: neither {short} nor load_dataset({options.source!r}) takes it "
            f"({options.config_class} options: {', '.join(options.own_fields[:MAX_LISTED])}{more})")
