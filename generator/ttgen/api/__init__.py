"""The objects of the Python API, for notebooks and workflow tools (docs/python.md).

Each wraps the core functions the commands use, so code and command line give the same
answers. Exported from ``ttgen`` itself: ``ttgen.open``, ``ttgen.OutputFolder``.

Modules:
    folder    an output folder as an object: its runs, diff, check, validate, status, results
"""
