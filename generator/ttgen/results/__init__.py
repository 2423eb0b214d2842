"""The experiment's answer: each run's metrics, state and scores, as records, tables, plots and a report.

Read from the runs' own files (docs/results.md): torchtune's metric logs, the checkpoint
folders, and the SLURM state that `ttgen status` reads. Nothing here trains or submits.

Modules:
    logs      one metric log file -> its steps, final/min/max/best values and a loss curve
    cache     summaries of finished logs kept in the output folder, so a second look is fast
    collect   every run of an output folder -> `RunResult` records (`collect_results`)
    group     rows grouped by one variable: mean, standard deviation and count
    tables    records -> header and rows; CSV, Markdown and plain-text tables
    plots     matplotlib figures (loss curves, metric against each variable) as PNG bytes
    report    one self-contained HTML file
"""
