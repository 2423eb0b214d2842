"""Validating generated configs, many in one process (``ttgen validate``, ``render --validate``).

- `static`: level 1, without torch: OmegaConf loads the config, interpolations
  resolve, ``_component_`` values are dotted names, well-known keys have the right types.
- `planned`: level 1's value rules on what experiment.yaml sets, at render time, each
  problem at the place that set the value.
- `components`: level 2: every ``_component_`` imports and accepts its keyword arguments.
- `datasets`: level 2 for dataset builders: the keys they pass on to ``load_dataset``, and
  local data files.
- `report`: the verdict on each config, findings grouped across runs, and the report text.
- `validator`: find the configs to check and run both levels over them.
"""
