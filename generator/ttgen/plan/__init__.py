"""Planning: from a loaded experiment to checked runs, before anything is written.

The stages, in the order `build.plan_experiment` runs them:

- `resolve`: written keys -> dotted paths of the base config (exact, alias, name, new key).
- `merge`: deletes and overrides applied to a config tree, with type checks.
- `origins`: the one labeller of where a value comes from (variable, control, auto ...).
- `derive`: ``{{ ... }}`` values compiled once and evaluated per run, in a sandbox.
- `sweep`: the grid of runs, zip groups and exclusions, run ids.
- `random_search`: the seeded draws of variables written as distributions (``sweep.method: random``).
- `outputs`: each run's own output folder, and no two runs writing to one folder.
- `identity`: the ``ttgen:`` block and the tracker's run names every config carries.
- `slurm`: the slurm: section checked against the recipe.
- `runs`: the resulting `Plan` and its lazily produced `RunConfig`s.
"""
