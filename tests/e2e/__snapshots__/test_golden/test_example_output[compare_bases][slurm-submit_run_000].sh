#!/bin/bash
# SLURM job for run_000 of experiment base_axis_random_lr, written by ttgen (12 runs in all;
# slurm/submit_array.sh submits them all). Logs: slurm/logs/run_000-<job id>.out and .err. Submit with:
#   sbatch /ttgen-golden/compare_bases/slurm/submit_run_000.sh
# Arguments after the script's path are passed on to `tune run`: sbatch /ttgen-golden/compare_bases/slurm/submit_run_000.sh optimizer.lr=1e-4
# Without GPUs, for a test: TTGEN_TUNE=/path/to/stand-in sbatch --gres=none ... (README: "Submitting to SLURM")
#SBATCH --job-name=base_axis_random_lr_run_000
#SBATCH --output=/ttgen-golden/compare_bases/slurm/logs/run_000-%j.out
#SBATCH --error=/ttgen-golden/compare_bases/slurm/logs/run_000-%j.err
#SBATCH --partition=gpu
#SBATCH --time=02:00:00
#SBATCH --gres=gpu:1

set -euo pipefail

run_id=run_000
config=/ttgen-golden/compare_bases/configs/run_000.yaml
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment base_axis_random_lr, $run_id, job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
echo "ttgen: config $config"

# TTGEN_TUNE, when set, names the program run instead of `tune` (e.g. a stand-in for tests).
# The script's own arguments ("$@") follow the config: torchtune overrides such as optimizer.lr=1e-4.
tune=${TTGEN_TUNE:-tune}
launch=("$tune" run lora_finetune_single_device --config "$config" "$@")

# Markers for `ttgen status` (docs/slurm.md): <run_id>@<job>.started before training starts, and
# <run_id>@<job>.ended with its exit code, or signal=TERM when SLURM stopped the job (scancel, time limit).
# <job> is squeue's id: <array job id>_<task id> for an array task.
state_dir=/ttgen-golden/compare_bases/slurm/state
if [[ -n ${SLURM_ARRAY_JOB_ID:-} ]]; then
    job="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID:-}"
else
    job=${SLURM_JOB_ID:-none}
fi
mark() {
    # mark SUFFIX TEXT: a marker that cannot be written is a warning, never a reason not to train.
    local file="$state_dir/$run_id@$job.$1" now
    printf -v now '%(%s)T' -1
    if ! printf 'time=%s %s\n' "$now" "$2" >"$file"; then
        echo "ttgen: warning: cannot write the marker $file; the run goes on without it" >&2
    fi
}
mark started "host=${HOSTNAME} job=$job"
# SLURM sends TERM to every process of the job; bash runs this once the training command has stopped.
trap 'mark ended "signal=TERM"; exit 143' TERM

echo "ttgen: starting $run_id: ${launch[*]}"
code=0
"${launch[@]}" || code=$?
if (( code == 143 )); then
    # The training command was stopped by SIGTERM (128 + 15) before this shell got its own TERM:
    # the same stop as the trap's, so the same marker (ttgen status: CANCELLED or TIMEOUT).
    mark ended "signal=TERM"
else
    mark ended "exit=$code"
fi
exit "$code"
