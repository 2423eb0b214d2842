#!/bin/bash
# shellcheck disable=SC1090,SC1091
# SLURM job for run_002 of experiment slurm_test, written by ttgen (4 runs in all;
# slurm/submit_array.sh submits them all). Logs: slurm/logs/run_002-<job id>.out and .err. Submit with:
#   sbatch /ttgen-golden/distributed/slurm/submit_run_002.sh
# Without GPUs, for a test: TTGEN_TUNE=/path/to/stand-in sbatch --gres=none ... (README: "Submitting to SLURM")
#SBATCH --job-name=slurm_test_run_002
#SBATCH --output=/ttgen-golden/distributed/slurm/logs/run_002-%j.out
#SBATCH --error=/ttgen-golden/distributed/slurm/logs/run_002-%j.err
#SBATCH --partition=gpu
#SBATCH --account=my_lab
#SBATCH --time=01:00:00
#SBATCH --gres=gpu:2
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --constraint=a100

set -euo pipefail

run_id=run_002
config=/ttgen-golden/distributed/configs/run_002.yaml
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
tune=${TTGEN_TUNE:-tune}
echo "ttgen: starting $run_id: $tune run --nproc_per_node 2 lora_finetune_distributed --config $config"
exec "$tune" run --nproc_per_node 2 lora_finetune_distributed --config "$config"
