#!/bin/bash
# shellcheck disable=SC1090,SC1091
# SLURM job array of experiment slurm_test, written by ttgen: one task per run (4 runs).
# Array task i runs configs/run_<i + TTGEN_RUN_OFFSET>.yaml (the offset defaults to 0), zero-padded to 3 digits
# (see configs/run_mapping.yaml); logs: slurm/logs/run_<i>-<array job id>.out and .err. Submit with:
#   sbatch /ttgen-golden/two_nodes/slurm/submit_array.sh
# Arguments after the script's path are passed on to `tune run` (e.g. optimizer.lr=1e-4).
# Without GPUs, for a test: TTGEN_TUNE=/path/to/stand-in sbatch --gres=none ... (README: "Submitting to SLURM")
#SBATCH --job-name=slurm_test
#SBATCH --array=0-3
#SBATCH --output=/ttgen-golden/two_nodes/slurm/logs/run_%3a-%A.out
#SBATCH --error=/ttgen-golden/two_nodes/slurm/logs/run_%3a-%A.err
#SBATCH --partition=gpu
#SBATCH --time=02:00:00
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=16
#SBATCH --mem=200G

set -euo pipefail

configs_dir=/ttgen-golden/two_nodes/configs
task=${SLURM_ARRAY_TASK_ID:?"this is a job array: submit it with sbatch (SLURM_ARRAY_TASK_ID is not set)"}
# The run of array task 0: a sweep larger than the cluster's MaxArraySize is submitted as several arrays.
offset=${TTGEN_RUN_OFFSET-0}  # unset: 0; set but empty: an error below
if [[ ! $offset =~ ^[0-9]{1,9}$ ]]; then
    echo "ttgen: TTGEN_RUN_OFFSET must be a non-negative integer (the run of array task 0), not '$offset'" >&2
    exit 1
fi
# 10#: a leading zero must not make bash read the number as octal.
if [[ ! $task =~ ^[0-9]{1,9}$ ]] || ((10#$task + 10#$offset >= 4)); then
    echo "ttgen: array task '$task' with TTGEN_RUN_OFFSET=$offset has no run: this experiment has runs 0 to 3" >&2
    exit 1
fi
printf -v run_id 'run_%03d' "$((10#$task + 10#$offset))"
config="$configs_dir/$run_id.yaml"
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment slurm_test, $run_id (array task $task, TTGEN_RUN_OFFSET=$offset), job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
echo "ttgen: config $config"

# Setup from experiment.yaml (slurm.setup). set +u around it: activation scripts
# such as `conda activate` read variables that may be unset. (The shellcheck directive
# at the top is for these lines: they may source files shellcheck cannot follow.)
set +u
echo "an unset variable in setup is fine: [${TTGEN_TEST_UNSET_VARIABLE}]"
export TTGEN_TEST_FROM_SETUP=yes
set -u

# TTGEN_TUNE, when set, names the program run instead of `tune` (e.g. a stand-in for tests).
# The script's own arguments ("$@") follow the config: torchtune overrides such as optimizer.lr=1e-4.
tune=${TTGEN_TUNE:-tune}
# torchtune's multi-node launch: srun starts one `tune run` (torchrun) per node (--ntasks-per-node=1),
# and they meet at the job's first node, which hosts the c10d rendezvous.
nodelist=${SLURM_JOB_NODELIST:?"a distributed recipe starts through srun: submit this script with sbatch (SLURM_JOB_NODELIST is not set)"}
nodes=$(scontrol show hostnames "$nodelist")
head_node=${nodes%%$'\n'*}
launch=(srun "$tune" run --nnodes "$SLURM_NNODES" --nproc_per_node 4 --rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d --rdzv_endpoint "$head_node:29500" lora_finetune_distributed --config "$config" "$@")

# Markers for `ttgen status` (docs/slurm.md): <run_id>@<job>.started before training starts, and
# <run_id>@<job>.ended with its exit code, or signal=TERM when SLURM stopped the job (scancel, time limit).
# <job> is squeue's id: <array job id>_<task id> for an array task.
state_dir=/ttgen-golden/two_nodes/slurm/state
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
