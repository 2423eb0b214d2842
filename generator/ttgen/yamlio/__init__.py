"""YAML in and out, exactly as torchtune (OmegaConf) reads it.

- `load`: read a file with OmegaConf's typing, keeping every value's position;
  only safe YAML is accepted.
- `dump`: write values as text OmegaConf reads back as the same type and value.
- `entries`: read one top-level entry of a large file ttgen wrote.
- `types`: how a YAML user names the type of a value.
"""
