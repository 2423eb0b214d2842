"""torchtune's shipped configs and their recipes, found without importing torch.

``import torchtune`` pulls in torch and torchao (seconds, and it fails where they
are missing). The recipe registry, ``torchtune/_recipe_registry.py``, is a plain
module of dataclasses, so we execute that one file on its own; the configs live
beside the package in ``recipes/configs/``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import BaseConfigError, Problem, SourcePos
from ..text import did_you_mean

INSTALL_HINT = ("install torchtune's configs without torch: pip install --no-deps torchtune==0.6.1 "
                "(or use framework_config.base_config_file)")


@dataclass(frozen=True)
class ShippedConfig:
    """One config from torchtune's registry.

    Examples:
        >>> config = load_catalog().get("llama3_2/1B_lora_single_device")  # doctest: +SKIP
        >>> config.name, config.recipe  # doctest: +SKIP
        ('llama3_2/1B_lora_single_device', 'lora_finetune_single_device')
    """

    name: str
    recipe: str
    path: Path
    supports_distributed: bool

    @property
    def exists(self) -> bool:
        return self.path.is_file()


@dataclass(frozen=True)
class Catalog:
    """torchtune's registry: every shipped config by name, and every recipe.

    Examples:
        >>> catalog = load_catalog()
        >>> catalog.get("llama3_2/1B_lora_single_device").recipe
        'lora_finetune_single_device'
    """

    torchtune_version: str
    configs: dict[str, ShippedConfig]
    # Every recipe of the registry by name -> supports_distributed (some recipes ship no config).
    recipes: dict[str, bool] = field(default_factory=dict)

    def get(self, name: str, *, pos: SourcePos | None = None, path: str | None = None) -> ShippedConfig:
        """The config called *name*; a clear error for an unknown or missing one."""
        cfg = self.configs.get(name)
        if cfg is None:
            hint = did_you_mean(name, self.configs, n=5, cutoff=0.5) or "run `ttgen ls` to list them"
            raise BaseConfigError([Problem(f"torchtune {self.torchtune_version} ships no config named {name!r}",
                                           pos=pos, path=path, hint=hint)])
        if not cfg.exists:
            raise BaseConfigError([Problem(
                f"torchtune {self.torchtune_version} lists {name!r} in its registry but its file "
                f"{cfg.path.name} is missing from the installed package", pos=pos, path=path,
                hint="pick another config (`ttgen ls`) or copy one into base_config_file")])
        return cfg


@lru_cache(maxsize=1)
def torchtune_version() -> str | None:
    """The installed torchtune's version, as its distribution metadata states it (None when absent)."""
    try:
        return importlib.metadata.version("torchtune")
    except importlib.metadata.PackageNotFoundError:
        return None


def _torchtune_dir() -> Path | None:
    spec = importlib.util.find_spec("torchtune")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Read torchtune's recipe registry; raises `BaseConfigError` when torchtune is absent.

    Examples:
        >>> catalog = load_catalog()  # doctest: +SKIP
        >>> len(catalog.configs)  # doctest: +SKIP
        155
    """
    pkg = _torchtune_dir()
    if pkg is None:
        raise BaseConfigError([Problem("torchtune is not installed, so its shipped configs cannot be read",
                                       hint=INSTALL_HINT)])
    registry = pkg / "_recipe_registry.py"
    # Load under a private name: importing it as torchtune._recipe_registry would run
    # torchtune/__init__.py, which imports torch.
    loader = importlib.machinery.SourceFileLoader("_ttgen_torchtune_recipe_registry", str(registry))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while being defined
    try:
        loader.exec_module(module)
    finally:
        sys.modules.pop(loader.name, None)
    config_root = pkg.parent / "recipes" / "configs"
    configs: dict[str, ShippedConfig] = {}
    recipes: dict[str, bool] = {}
    for recipe in module.get_all_recipes():
        recipes.setdefault(recipe.name, bool(recipe.supports_distributed))
        for cfg in recipe.configs:
            configs.setdefault(cfg.name, ShippedConfig(
                name=cfg.name, recipe=recipe.name, path=config_root / cfg.file_path,
                supports_distributed=recipe.supports_distributed))
    return Catalog(torchtune_version=torchtune_version() or "unknown", configs=configs, recipes=recipes)
