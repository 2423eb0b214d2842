#!/bin/bash
# shellcheck disable=SC1090,SC1091
# SLURM job array of experiment lora_lr_rank_slurm, written by ttgen: one task per run (6 runs).
# Array task i runs configs/run_<i>.yaml, i zero-padded to 3 digits (see configs/run_mapping.yaml);
# logs: slurm/logs/run_<i>-<array job id>.out and .err. Submit with:
#   sbatch /ttgen-golden/slurm_sweep/slurm/submit_array.sh
# Without GPUs, for a test: TTGEN_TUNE=/path/to/stand-in sbatch --gres=none ... (README: "Submitting to SLURM")
#SBATCH --job-name=lora_lr_rank_slurm
#SBATCH --array=0-5%3
#SBATCH --output=/ttgen-golden/slurm_sweep/slurm/logs/run_%3a-%A.out
#SBATCH --error=/ttgen-golden/slurm_sweep/slurm/logs/run_%3a-%A.err
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

configs_dir=/ttgen-golden/slurm_sweep/configs
task=${SLURM_ARRAY_TASK_ID:?"this is a job array: submit it with sbatch (SLURM_ARRAY_TASK_ID is not set)"}
if [[ ! $task =~ ^[0-9]+$ ]] || ((task >= 6)); then
    echo "ttgen: array task '$task' has no run: this experiment has runs 0 to 5" >&2
    exit 1
fi
printf -v run_id 'run_%03d' "$task"
config="$configs_dir/$run_id.yaml"
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment lora_lr_rank_slurm, $run_id (array task $task), job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
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
