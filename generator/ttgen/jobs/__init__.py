"""Running a rendered sweep on SLURM: submit it, follow it, submit again what failed.

- `cluster`: the SLURM commands (sbatch, squeue, sacct, scontrol), one call per query.
- `record`: the append-only record of submissions in the output folder.
- `markers`: the start and end markers the job scripts write.
- `metrics`: reading torchtune's metric logs (DiskLogger's ``Step N | loss:...`` lines).
- `status`: one row per run, from the record, the markers, one squeue and one sacct call.
- `submit`: choosing runs, refusing unsafe submissions, splitting arrays above MaxArraySize.
- `evaluation`: every run's evaluation scores (`read_scores`, from Inspect AI's logs) and states.
- `resubmit`: changing failed runs' configs (``--set``, ``--oom-retry``, ``--resume``) and
  submitting them again with the same run ids.

Nothing here prints; the command line (`ttgen.cli.submit`, `ttgen.cli.status`,
`ttgen.cli.resubmit`) does.
"""
