"""Rendering: from a `Plan` to a complete output folder, written atomically.

- `environment`: the Jinja environment, its filters, loading templates.
- `config_text`: each run's config text (the controlled lines rendered once).
- `mapping`: the run mapping's per-run entries.
- `slurm_scripts`: the SLURM submit scripts.
- `folder`: the atomic output folder (a temporary sibling renamed into place).
- `output`: `render_experiment` and `write_output`, the whole render.
"""
