"""Reviewing output folders: what a run changes (``ttgen diff``), and whether a folder is current (``ttgen check``).

- `folders`: find an output folder and its runs.
- `compare`: the differences between two config trees (deepdiff), in config order.
- `diff`: a run against the recorded base config, or two runs, with each difference's origin.
- `check`: re-render an experiment in a temporary place and compare every file.
"""
