"""Compatibility name for existing automation: ``python -m torchtune_config_writer generate X``
and `generate_configs` in Python.

It is ttgen under its old name; new code should use ``ttgen`` directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["generate_configs"]


def generate_configs(experiment: Mapping[str, Any] | str | os.PathLike[str], *,
                     out: str | os.PathLike[str] | None = None, force: bool = False,
                     base_dir: str | os.PathLike[str] = ".", overrides: Sequence[str] = ()) -> list[Path]:
    """Render an experiment (a dict with experiment.yaml's content, or the path of one) and
    return the paths of every file written, configs first. Raises `ttgen.UserError`.

    *base_dir*: for a dict, the folder its relative paths start from. *out*, *force*,
    *overrides*: as for ``ttgen render``.

    Examples:
        >>> from torchtune_config_writer import generate_configs
        >>> paths = generate_configs("examples/lora_rank_sweep/experiment.yaml", out="/tmp/study")  # doctest: +SKIP
        >>> [p.name for p in paths][:2]  # doctest: +SKIP
        ['run_000.yaml', 'run_001.yaml']
    """
    import ttgen

    if isinstance(experiment, Mapping):
        loaded = ttgen.Experiment.from_dict(experiment, base_dir=base_dir)
    else:
        loaded = ttgen.Experiment.from_file(experiment)
    result = ttgen.render(loaded, out=out, force=force, overrides=overrides)
    assert result.output_dir is not None
    # The configs first, in run order, then the rest of the folder in path order.
    files = sorted(result.files, key=lambda rel: (not rel.startswith("configs/run_"), rel))
    return [result.output_dir / rel for rel in files]
