"""Validating generated configs, many in one process (``ttgen validate``, ``render --validate``).

- `static`: level 1, without torch: OmegaConf loads the config, interpolations
  resolve, ``_component_`` values are dotted names, well-known keys have the right types.
- `components`: level 2: every ``_component_`` imports and accepts its keyword arguments.
- `report`: the verdict on each config and the report text.
- `validator`: find the configs to check and run both levels over them.
"""
