#!/bin/bash
# shellcheck disable=SC1090,SC1091
# SLURM job for run_001 of experiment slurm_test, written by ttgen (4 runs in all;
# slurm/submit_array.sh submits them all). Logs: slurm/logs/run_001-<job id>.out and .err. Submit with:
#   sbatch /ttgen-golden/two_nodes/slurm/submit_run_001.sh
# Arguments after the script's path are passed on to `tune run`: sbatch /ttgen-golden/two_nodes/slurm/submit_run_001.sh optimizer.lr=1e-4
# Without GPUs, for a test: TTGEN_TUNE=/path/to/stand-in sbatch --gres=none ... (README: "Submitting to SLURM")
#SBATCH --job-name=slurm_test_run_001
#SBATCH --output=/ttgen-golden/two_nodes/slurm/logs/run_001-%j.out
#SBATCH --error=/ttgen-golden/two_nodes/slurm/logs/run_001-%j.err
#SBATCH --partition=gpu
#SBATCH --time=02:00:00
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=16
#SBATCH --mem=200G

set -euo pipefail

run_id=run_001
config=/ttgen-golden/two_nodes/configs/run_001.yaml
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment slurm_test, $run_id, job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
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
