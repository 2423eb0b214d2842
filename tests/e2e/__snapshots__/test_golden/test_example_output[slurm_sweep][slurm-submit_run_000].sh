#!/bin/bash
# shellcheck disable=SC1090,SC1091
# SLURM job for run_000 of experiment lora_lr_rank_slurm, written by ttgen (6 runs in all;
# slurm/submit_array.sh submits them all). Logs: slurm/logs/run_000-<job id>.out and .err. Submit with:
#   sbatch /ttgen-golden/slurm_sweep/slurm/submit_run_000.sh
# Without GPUs, for a test: TTGEN_TUNE=/path/to/stand-in sbatch --gres=none ... (README: "Submitting to SLURM")
#SBATCH --job-name=lora_lr_rank_slurm_run_000
#SBATCH --output=/ttgen-golden/slurm_sweep/slurm/logs/run_000-%j.out
#SBATCH --error=/ttgen-golden/slurm_sweep/slurm/logs/run_000-%j.err
#SBATCH --partition=gpu
#SBATCH --account=my_lab
#SBATCH --time=04:00:00
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --mail-user=researcher@example.org
#SBATCH --mail-type=END,FAIL
#SBATCH --signal=USR1@120

set -euo pipefail

run_id=run_000
config=/ttgen-golden/slurm_sweep/configs/run_000.yaml
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment lora_lr_rank_slurm, $run_id, job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
echo "ttgen: config $config"

# Setup from experiment.yaml (slurm.setup). set +u around it: activation scripts
# such as `conda activate` read variables that may be unset. (The shellcheck directive
# at the top is for these lines: they may source files shellcheck cannot follow.)
set +u
module load cuda/12.1
source "$HOME/miniconda3/etc/profile.d/conda.sh"
conda activate torchtune
set -u

# TTGEN_TUNE, when set, names the program run instead of `tune` (e.g. a stand-in for tests).
tune=${TTGEN_TUNE:-tune}
echo "ttgen: starting $run_id: $tune run lora_finetune_single_device --config $config"
exec "$tune" run lora_finetune_single_device --config "$config"
