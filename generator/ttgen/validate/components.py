"""Level 2 of ``ttgen validate``: import every ``_component_`` and bind its keys to its signature.

This is what torchtune 0.6.1 does when a recipe calls ``config.instantiate``
(torchtune/config/_instantiate.py): locate the dotted name
(``_utils._get_component_from_path``: import the first segment, then ``getattr``
each next one, importing submodules on the way) and call it with the mapping's
other keys as keyword arguments, plus whatever the recipe passes itself
(``model.parameters()`` to optimizers, the tokenizer to datasets, ...). So,
like ``tune validate``, keys are bound with ``Signature.bind_partial``: a
required argument the config leaves out is the recipe's business, but a key
the signature cannot accept (no such parameter, no ``**kwargs``) fails at run
time and is reported. Unlike ``tune validate`` every component mapping is
checked, at any depth and inside lists (recipes instantiate dataset lists item
by item; nested components are passed to, or built by, their parent).

Dataset builders get one more step (`ttgen.validate.datasets`): the keys they pass
on to Hugging Face's ``load_dataset`` are checked against what the packaged builder
named by ``source`` takes, and local ``data_files`` are looked for.

torchtune (and with it torch) is imported once per process; each component is
located and its signature read once, and each (component, keys) pair is bound
once, so a sweep of thousands of runs costs little more than one config.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import pkgutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

from ..errors import Problem
from ..text import close_matches, did_you_mean, first_line
from ..yamlio.load import YamlDocument
from .datasets import DatasetChecker
from .static import ComponentNode

MAX_LISTED_PARAMS = 12
NEAR_MISS = 0.85  # difflib ratio: train_on_inpt/train_on_input is 0.96, dir/log_dir only 0.6

# (config path of the component mapping, key, new component) -> a hint, or None
LeftoverHint = Callable[[tuple[Any, ...], str, str], "str | None"]


@dataclass(frozen=True)
class _Located:
    """A component name, located: the object, or why it could not be."""

    obj: Any = None
    error: str | None = None
    hint: str | None = None
    signature: inspect.Signature | None = None
    signature_error: str | None = None


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Keep import-time chatter (torchao's 'no triton' warning, deprecations) out of our output."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _cwd_on_path() -> Iterator[None]:
    """torchtune's instantiate appends the working folder to sys.path so local modules import."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def import_torchtune() -> tuple[str | None, str | None]:
    """Import torchtune (and torch) once: ``(version, None)``, or ``(None, why it cannot be)``."""
    if "torchtune" not in sys.modules and importlib.util.find_spec("torchtune") is None:
        return None, "torchtune is not installed"
    try:
        with _quiet_import():
            module = importlib.import_module("torchtune")
    except Exception as exc:  # a broken torch install can raise anything, not only ImportError
        # One line: a failing torchao import explains itself over many (issue 21).
        return None, f"torchtune cannot be imported ({type(exc).__name__}: {first_line(exc)})"
    try:  # the distribution's version, as the manifest records it (__version__ may carry +cpu)
        return importlib.metadata.version("torchtune"), None
    except importlib.metadata.PackageNotFoundError:
        version = getattr(module, "__version__", None)
        return (version if isinstance(version, str) else "unknown"), None


def _names_in(obj: Any) -> list[str]:
    """Public attribute names of a module or class, and a package's submodules."""
    names = {n for n in dir(obj) if not n.startswith("_")}
    if isinstance(obj, ModuleType) and hasattr(obj, "__path__"):
        names.update(m.name for m in pkgutil.iter_modules(obj.__path__) if not m.name.startswith("_"))
    return sorted(names)


def _suggest(missing: str, candidates: list[str], prefix: str) -> str | None:
    return did_you_mean(missing, candidates, n=3, prefix=prefix)


def locate(name: str) -> _Located:
    """Find the object a dotted ``_component_`` names, the way torchtune 0.6.1 does."""
    parts = name.split(".")
    try:
        with _quiet_import(), _cwd_on_path():
            try:
                obj: Any = importlib.import_module(parts[0])
            except ModuleNotFoundError as exc:
                if exc.name != parts[0]:
                    return _Located(error=f"importing {parts[0]!r} failed: {exc}")
                top = sorted({m.name for m in pkgutil.iter_modules()} | set(sys.modules))
                return _Located(error=f"no module named {parts[0]!r}", hint=_suggest(parts[0], top, "")
                                or "is the package installed in this environment?")
            for m in range(1, len(parts)):
                part, parent = parts[m], ".".join(parts[:m])
                try:
                    obj = getattr(obj, part)
                    continue
                except AttributeError:
                    pass
                if isinstance(obj, ModuleType):
                    full = ".".join(parts[: m + 1])
                    try:
                        obj = importlib.import_module(full)
                        continue
                    except ModuleNotFoundError as exc:
                        if exc.name != full:  # the module exists but needs something missing
                            return _Located(error=f"importing {full!r} failed: {exc}",
                                            hint="install what it needs in the job's environment")
                return _Located(error=f"{parent!r} has no attribute {part!r}",
                                hint=_suggest(part, _names_in(obj), parent + "."))
    except Exception as exc:  # importing user code may raise anything
        return _Located(error=f"importing it failed: {type(exc).__name__}: {exc}")
    if not callable(obj):
        return _Located(obj=obj, error=f"it names a {type(obj).__name__}, which cannot be called",
                        hint="_component_ must name a class or function")
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError) as exc:
        return _Located(obj=obj, signature_error=str(exc))
    return _Located(obj=obj, signature=sig)


def _parameter_names(sig: inspect.Signature) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in sig.parameters.values() if p.kind in kinds]


@dataclass(frozen=True)
class BadKey:
    """A config key a component will not take as meant."""

    key: str
    reason: str  # Python's own words, from bind_partial, or why a **kwargs catch is suspicious
    absorbed_by: str | None = None  # the **kwargs parameter that would swallow a near-miss


def unbindable_keys(sig: inspect.Signature, keys: tuple[str, ...]) -> list[BadKey]:
    """Keys the signature cannot take as keyword arguments, and near-misses that **kwargs would swallow.

    A key that is one typo away from a named parameter the mapping does not set
    (``train_on_inpt`` for ``train_on_input``) binds to ``**load_dataset_kwargs``
    without complaint and fails much later (or is silently ignored); it is reported too.
    """
    bad: list[BadKey] = []
    try:
        sig.bind_partial(**{k: None for k in keys})
    except TypeError:
        for key in keys:  # bind_partial stops at the first problem; find them all
            try:
                sig.bind_partial(**{key: None})
            except TypeError as exc:
                bad.append(BadKey(key, str(exc)))
    var_kw = next((p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    if var_kw is None:
        return bad
    named = _parameter_names(sig)
    unset = [n for n in named if n not in keys]
    for key in keys:
        if key in named or any(b.key == key for b in bad):
            continue
        close = close_matches(key, unset, cutoff=NEAR_MISS)
        if close:
            bad.append(BadKey(key, f"{key!r} is not a parameter; it is one typo away from {close[0]!r}",
                              absorbed_by=var_kw))
    return bad


class ComponentChecker:
    """Locates components and binds config keys, caching both for the whole process."""

    def __init__(self) -> None:
        self._located: dict[str, _Located] = {}
        self._bound: dict[tuple[str, tuple[str, ...]], list[BadKey]] = {}
        self._datasets = DatasetChecker()

    @property
    def components(self) -> list[str]:
        """Distinct component names seen so far, sorted."""
        return sorted(self._located)

    def located(self, name: str) -> _Located:
        hit = self._located.get(name)
        if hit is None:
            hit = self._located[name] = locate(name)
        return hit

    def check(self, node: ComponentNode, *, run_id: str, leftover: LeftoverHint | None = None,
              config_file: Path | None = None, document: YamlDocument | None = None) -> list[Problem]:
        """Level 2 problems of one component mapping of one config.

        *config_file*: the file the config was read from, for the values of dataset builders'
        keys (`ttgen.validate.datasets`); without it, the file its positions name, when that is
        the same file. *document*: the config as level 1 read it (then no file is read again).
        """
        found = self.located(node.name)
        comp_path = node.dotted + "._component_" if node.path else "_component_"
        if found.error is not None:
            return [Problem(f"component {node.name} cannot be used: {found.error}", pos=node.pos, path=comp_path,
                            hint=found.hint, run_id=run_id, level=2)]
        if found.signature is None:
            return [Problem(f"the signature of {node.name} cannot be read ({found.signature_error}); "
                            "its keyword arguments were not checked", pos=node.pos, path=comp_path,
                            hint=f"check the keys against {node.name}'s documentation: a wrong one fails when "
                                 "the job starts",
                            severity="warning", run_id=run_id, level=2)]
        cache_key = (node.name, node.keys)
        bad = self._bound.get(cache_key)
        if bad is None:
            bad = self._bound[cache_key] = unbindable_keys(found.signature, node.keys)
        issues = []
        for bad_key in bad:
            key = bad_key.key
            hint = (leftover(node.path, key, node.name) if leftover else None) or self._key_hint(found, key, node)
            if bad_key.absorbed_by:
                message = (f"{node.name} has no parameter {key!r}; **{bad_key.absorbed_by} would take it, "
                           "but it looks like a misspelt parameter")
            elif "positional only" in bad_key.reason:
                message = f"{node.name} takes {key!r} only by position, so a config key cannot set it"
            else:
                message = f"{node.name} has no parameter {key!r}"
            issues.append(Problem(message, pos=node.key_positions.get(key, node.pos),
                                  path=(node.dotted + "." if node.path else "") + key, hint=hint,
                                  run_id=run_id, level=2))
        issues.extend(self._datasets.check(node, found.signature, run_id=run_id, leftover=leftover,
                                           reported=frozenset(b.key for b in bad), config_file=config_file,
                                           document=document))
        return issues

    @staticmethod
    def _key_hint(found: _Located, key: str, node: ComponentNode) -> str:
        assert found.signature is not None
        named = _parameter_names(found.signature)
        close = close_matches(key, named, n=3)
        if close and close[0] in node.keys:
            return f"did you mean {close[0]}? It is set too, so remove {key}"
        if close:
            return "did you mean " + ", ".join(close) + "?"
        params = [p for p in named if p not in node.keys]
        if not params:
            return f"{node.name} takes no further keyword arguments: remove the key"
        listed = ", ".join(params[:MAX_LISTED_PARAMS]) + (", ..." if len(params) > MAX_LISTED_PARAMS else "")
        return f"remove the key; the other parameters of {node.name} are: {listed}"
