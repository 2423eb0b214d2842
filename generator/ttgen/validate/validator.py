"""``ttgen validate`` and ``render --validate``: check many generated configs in one process (docs/contract.md §9).

Level 1 (`ttgen.validate.static`) always runs and needs no torch. Level 2
(`ttgen.validate.components`) runs when torchtune can be imported — or is required
with ``level=2`` — and imports torch once for all configs. Every config is
checked even when others fail; each problem names its run, dotted path and
position.

No problem and no report line holds a resolved environment value (``${oc.env:NAME}``):
they show the interpolation as written (docs/validate.md).

Use `Validator` to check configs one at a time (the command streams results
and draws progress), or `validate_configs` / `validate_output_folder` to get
one `ValidationReport`. Nothing here prints.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import Problem, RunLookupError, SourcePos, UserError, ValidationFailed
from ..layout import BASE_FILE, CONFIG_GLOB, CONFIG_NAME, CONFIGS_DIR, MANIFEST_FILE
from ..tree import MISSING, Key, display_path, lookup
from ..yamlio.load import read_yaml_file
from .components import ComponentChecker, import_torchtune
from .report import ConfigResult, ValidationReport
from .static import check_static, scrub_problem, scrub_text

# Said while torchtune (and torch) are imported for level 2, which takes seconds.
IMPORT_NOTE = "importing torchtune (and torch) for level 2 checks ..."


@dataclass(frozen=True)
class ConfigFile:
    """One config to check: where it is, how to show it, its run id, and its folder's base config."""

    path: Path
    display: str
    run_id: str
    base: Path | None = None  # base_config.yaml of the output folder, for hints on swapped components


def _base_for(configs_dir: Path) -> Path | None:
    """The base_config.yaml of the output folder holding *configs_dir*, when it is one."""
    base = configs_dir.parent / BASE_FILE
    return base if configs_dir.name == CONFIGS_DIR and base.is_file() else None


def _axis_bases(configs_dir: Path) -> list[tuple[str, str, Path]]:
    """A base axis: (first run id, last run id, base file) of every base the manifest lists, else []."""
    manifest = configs_dir.parent / MANIFEST_FILE
    if configs_dir.name != CONFIGS_DIR or not manifest.is_file():
        return []
    try:
        entries = read_yaml_file(manifest, display=str(manifest), what="manifest").data.get("base_configs")
    except (UserError, AttributeError):
        return []
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        runs, name = entry.get("runs"), entry.get("file")
        if isinstance(runs, str) and isinstance(name, str) and re.fullmatch(r"base_config(_[0-9]+)?\.yaml", name):
            first, _, last = runs.partition("-")
            out.append((first, last or first, configs_dir.parent / name))
    return out


def _run_files(configs_dir: Path, *, display_dir: str) -> list[ConfigFile]:
    files = sorted((p for p in configs_dir.glob(CONFIG_GLOB) if CONFIG_NAME.fullmatch(p.name)),
                   key=lambda p: (len(p.stem), p.stem))
    prefix = display_dir.rstrip("/") + "/" if display_dir else ""
    base = _base_for(configs_dir)
    axis = _axis_bases(configs_dir)

    def own_base(run_id: str) -> Path | None:  # each run's own base, in a base axis
        key = (len(run_id), run_id)
        return next((f for first, last, f in axis if (len(first), first) <= key <= (len(last), last)), base)

    return [ConfigFile(path=p, display=prefix + p.name, run_id=p.stem, base=own_base(p.stem) if axis else base)
            for p in files if p.is_file()]


def find_configs(targets: Sequence[Path | str]) -> list[ConfigFile]:
    """The configs named by output folders, folders of configs and config files, in the order given.

    An output folder contributes ``configs/run_*.yaml``; a folder without
    ``configs/`` contributes its own ``run_*.yaml``. Raises `RunLookupError`
    for a missing path or a folder without configs (every such target at once).

    Examples:
        >>> [c.display for c in find_configs(["tests/data/results_sweep/folder"])][:2]
        ['tests/data/results_sweep/folder/configs/run_000.yaml', 'tests/data/results_sweep/folder/configs/run_001.yaml']
    """
    problems: list[Problem] = []
    found: list[ConfigFile] = []
    seen: set[Path] = set()
    for target in map(Path, targets):
        shown = str(target)
        if target.is_dir():
            if (target / CONFIGS_DIR).is_dir():
                files = _run_files(target / CONFIGS_DIR, display_dir=str(target / CONFIGS_DIR))
            else:
                files = _run_files(target, display_dir=shown)
            if not files:
                problems.append(Problem(f"no configs ({CONFIG_GLOB}) in this folder", pos=SourcePos(shown),
                                        hint="give an output folder of ttgen render, its configs/ folder, "
                                             "or config files"))
        elif target.is_file():
            files = [ConfigFile(path=target, display=shown, run_id=target.stem, base=_base_for(target.parent))]
        else:
            problems.append(Problem("no such file or folder", pos=SourcePos(shown),
                                    hint="check the path (relative to the current folder)"))
            continue
        for f in files:
            key = f.path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    if problems:
        raise RunLookupError(problems)
    return found


class _BaseHints:
    """Says when a rejected key was kept from the base config's mapping of another component."""

    def __init__(self) -> None:
        self._bases: dict[Path, Any] = {}

    def _data(self, base: Path) -> Any:
        if base not in self._bases:
            try:
                self._bases[base] = read_yaml_file(base, what="base config").data
            except UserError:
                self._bases[base] = None
        return self._bases[base]

    def hint(self, base: Path | None, path: Key, key: str, component: str) -> str | None:
        if base is None:
            return None
        node = lookup(self._data(base), path)
        if node is MISSING or not isinstance(node, dict) or key not in node:
            return None
        old = node.get("_component_")
        if old == component or not isinstance(old, str):
            return None
        where = display_path(path)
        return (f"{key!r} is left over from the base config's {old}, which this run replaces with {component}: "
                f"add {where}.{key} to delete: in experiment.yaml, or delete {where} and set it again whole")


class Validator:
    """Checks configs one at a time, with torchtune imported (at most) once.

    *level*: None runs level 2 when torchtune can be imported and level 1
    otherwise; 1 never imports torch; 2 requires torchtune (`ValidationFailed` if absent).
    """

    def __init__(self, *, level: int | None = None) -> None:
        if level not in (None, 1, 2):
            raise ValueError(f"level must be None, 1 or 2, not {level!r}")
        self.requested = level
        self.report = ValidationReport(level=1)
        self._checker: Any = None
        self._hints = _BaseHints()
        self._started = False
        self._secrets: dict[str, str] = {}  # every environment value resolved so far -> its interpolation

    def wants_torchtune(self) -> bool:
        """Whether `start` will try to import torchtune (which takes seconds)."""
        return self.requested != 1 and importlib.util.find_spec("torchtune") is not None

    def start(self) -> ValidationReport:
        """Decide the level, importing torchtune when it is wanted; returns the (empty) report."""
        if self._started:
            return self.report
        self._started = True
        if self.requested == 1:
            return self.report
        version, why = import_torchtune()
        if why is not None:
            if self.requested == 2:
                raise ValidationFailed([Problem(f"level 2 validation needs torchtune: {why}",
                                                hint="install torch and torchtune in this environment, "
                                                     "or drop --level 2 to run level 1 only")])
            self.report.level2_unavailable = why
            return self.report
        self.report.level, self.report.torchtune_version = 2, version
        self._checker = ComponentChecker()
        return self.report

    def check(self, config: ConfigFile) -> ConfigResult:
        """Both levels on one config; the result is also added to `report`."""
        self.start()
        static = check_static(config.path, display=config.display, run_id=config.run_id)
        issues: list[Problem] = list(static.issues)
        if self._checker is not None:
            def leftover(path: Key, key: str, component: str) -> str | None:
                return self._hints.hint(config.base, path, key, component)

            for node in static.components:
                issues.extend(self._checker.check(node, run_id=config.run_id, leftover=leftover,
                                                  config_file=config.path, document=static.doc))
            # Level 2 names components as resolved: never with an environment value in them.
            self._secrets.update(static.secrets)
            issues = sorted((scrub_problem(p, static.secrets) for p in issues), key=Problem.sort_key)
            self.report.components = [scrub_text(name, self._secrets) for name in self._checker.components]
        result = ConfigResult(run_id=config.run_id, file=config.display, issues=tuple(issues))
        self.report.results.append(result)
        return result


def validate_configs(configs: Iterable[ConfigFile], *, level: int | None = None,
                     progress: Callable[[str, int, int], None] | None = None,
                     note: Callable[[str], None] | None = None) -> ValidationReport:
    """Check every config; returns the report (problems in configs never raise).

    Examples:
        >>> report = validate_configs(find_configs(["outputs/study"]), level=1)  # doctest: +SKIP
        >>> report.ok, report.summary()  # doctest: +SKIP
        (True, '4 configs checked at level 1: all passed')
    """
    validator = Validator(level=level)
    if note is not None and validator.wants_torchtune():
        note(IMPORT_NOTE)
    validator.start()
    configs = list(configs)
    for done, config in enumerate(configs, 1):
        validator.check(config)
        if progress is not None:
            progress("validating", done, len(configs))
    return validator.report


def validate_output_folder(folder: Path, *, level: int | None = None,
                           progress: Callable[[str, int, int], None] | None = None,
                           note: Callable[[str], None] | None = None) -> ValidationReport:
    """Check ``configs/run_*.yaml`` of an output folder, naming files relative to it (``configs/run_000.yaml``).

    Used by ``render --validate`` on the temporary folder before it is renamed,
    so the report holds no temporary path.

    Examples:
        >>> report = validate_output_folder(Path("tests/data/results_sweep/folder"), level=1)
        >>> report.ok, [r.file for r in report.results][:2]
        (True, ['configs/run_000.yaml', 'configs/run_001.yaml'])
    """
    return validate_configs(_run_files(folder / CONFIGS_DIR, display_dir=CONFIGS_DIR), level=level,
                            progress=progress, note=note)
