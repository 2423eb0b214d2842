#!/bin/bash
# shellcheck disable=SC1090,SC1091
# SLURM job array of experiment slurm_test, written by ttgen: one task per run (4 runs).
# Array task i runs configs/run_<i>.yaml, i zero-padded to 3 digits (see configs/run_mapping.yaml);
# logs: slurm/logs/run_<i>-<array job id>.out and .err. Submit with:
#   sbatch /ttgen-golden/distributed/slurm/submit_array.sh
# Without GPUs, for a test: TTGEN_TUNE=/path/to/stand-in sbatch --gres=none ... (README: "Submitting to SLURM")
#SBATCH --job-name=slurm_test
#SBATCH --array=0-3%2
#SBATCH --output=/ttgen-golden/distributed/slurm/logs/run_%3a-%A.out
#SBATCH --error=/ttgen-golden/distributed/slurm/logs/run_%3a-%A.err
#SBATCH --partition=gpu
#SBATCH --account=my_lab
#SBATCH --time=01:00:00
#SBATCH --gres=gpu:2
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --constraint=a100

set -euo pipefail

configs_dir=/ttgen-golden/distributed/configs
task=${SLURM_ARRAY_TASK_ID:?"this is a job array: submit it with sbatch (SLURM_ARRAY_TASK_ID is not set)"}
if [[ ! $task =~ ^[0-9]+$ ]] || ((task >= 4)); then
    echo "ttgen: array task '$task' has no run: this experiment has runs 0 to 3" >&2
    exit 1
fi
printf -v run_id 'run_%03d' "$task"
config="$configs_dir/$run_id.yaml"
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment slurm_test, $run_id (array task $task), job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
echo "ttgen: config $config"

# Setup from experiment.yaml (slurm.setup). set +u around it: activation scripts
# such as `conda activate` read variables that may be unset. (The shellcheck directive
# at the top is for these lines: they may source files shellcheck cannot follow.)
set +u
echo "an unset variable in setup is fine: [${TTGEN_TEST_UNSET_VARIABLE}]"
export TTGEN_TEST_FROM_SETUP=yes
set -u

# TTGEN_TUNE, when set, names the program run instead of `tune` (e.g. a stand-in for tests).
tune=${TTGEN_TUNE:-tune}
echo "ttgen: starting $run_id: $tune run --nproc_per_node 2 lora_finetune_distributed --config $config"
exec "$tune" run --nproc_per_node 2 lora_finetune_distributed --config "$config"
