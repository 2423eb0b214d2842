#!/bin/bash
# SLURM job array evaluating experiment tiny_cpu_eval, written by ttgen: task i evaluates run i
# (evaluation/evaluations.yaml lists what: each chosen epoch's checkpoint on each task; docs/evaluating.md).
# `ttgen submit` submits it with --dependency=aftercorr:<training job>, so task i starts once training task i
# has succeeded. Logs: slurm/logs/eval_run_<i>-<array job id>.out and .err; Inspect AI's logs: evaluation/logs/.
# Without GPUs, for a test: TTGEN_INSPECT=/path/to/stand-in sbatch --gres=none ...
#SBATCH --job-name=tiny_cpu_eval_eval
#SBATCH --array=0-1
#SBATCH --output=/ttgen-golden/tiny_cpu_eval/slurm/logs/eval_run_%3a-%A.out
#SBATCH --error=/ttgen-golden/tiny_cpu_eval/slurm/logs/eval_run_%3a-%A.err
#SBATCH --time=00:20:00

set -euo pipefail

configs_dir=/ttgen-golden/tiny_cpu_eval/configs
task=${SLURM_ARRAY_TASK_ID:?"this is a job array: submit it with sbatch (SLURM_ARRAY_TASK_ID is not set)"}
# The run of array task 0: a sweep larger than the cluster's MaxArraySize is submitted as several arrays.
offset=${TTGEN_RUN_OFFSET-0}  # unset: 0; set but empty: an error below
if [[ ! $offset =~ ^[0-9]{1,9}$ ]]; then
    echo "ttgen: TTGEN_RUN_OFFSET must be a non-negative integer (the run of array task 0), not '$offset'" >&2
    exit 1
fi
# 10#: a leading zero must not make bash read the number as octal.
if [[ ! $task =~ ^[0-9]{1,9}$ ]] || ((10#$task + 10#$offset >= 2)); then
    echo "ttgen: array task '$task' with TTGEN_RUN_OFFSET=$offset has no run: this experiment has runs 0 to 1" >&2
    exit 1
fi
printf -v run_id 'run_%03d' "$((10#$task + 10#$offset))"
config="$configs_dir/$run_id.yaml"
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment tiny_cpu_eval, $run_id (array task $task, TTGEN_RUN_OFFSET=$offset), job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
echo "ttgen: config $config"

# TTGEN_INSPECT and TTGEN_TUNE, when set, name the programs run instead of `inspect` and `tune`.
inspect=${TTGEN_INSPECT:-inspect}

# Markers for `ttgen status`: eval_<run_id>@<job>.started and .ended, as the training script writes them.
state_dir=/ttgen-golden/tiny_cpu_eval/slurm/state
if [[ -n ${SLURM_ARRAY_JOB_ID:-} ]]; then
    job="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID:-}"
else
    job=${SLURM_JOB_ID:-none}
fi
mark() {
    # mark SUFFIX TEXT: a marker that cannot be written is a warning, never a reason not to evaluate.
    local file="$state_dir/eval_$run_id@$job.$1" now
    printf -v now '%(%s)T' -1
    if ! printf 'time=%s %s\n' "$now" "$2" >"$file"; then
        echo "ttgen: warning: cannot write the marker $file; the evaluation goes on without it" >&2
    fi
}
mark started "host=${HOSTNAME} job=$job"
trap 'mark ended "signal=TERM"; exit 143' TERM

# Every evaluation runs, even after one failed; the job's exit code is the last failure's.
code=0
evaluate_inspect() {
    # evaluate_inspect LOG_DIR COMMAND...: `inspect eval` exits 0 even when a task fails (its log says
    # so): a success is one more log of status success in LOG_DIR than before.
    local log_dir=$1 before after
    shift
    echo "ttgen: evaluating $run_id: $*"
    before=$("$inspect" log list --log-dir "$log_dir" --status success 2>/dev/null | grep -c . || true)
    "$@" || code=$?
    after=$("$inspect" log list --log-dir "$log_dir" --status success 2>/dev/null | grep -c . || true)
    if ((after <= before)); then
        echo "ttgen: no successful Inspect AI log was added to $log_dir: this evaluation failed" >&2
        code=1
    fi
}
case $run_id in
    run_000)
        evaluate_inspect /ttgen-golden/tiny_cpu_eval/evaluation/logs/run_000/epoch_0 "$inspect" eval /ttgen-examples/tiny_cpu_eval/tasks/tiny_arithmetic.py@tiny_arithmetic --model hf/outputs/train/tiny_eval/run_000/epoch_0 --log-dir /ttgen-golden/tiny_cpu_eval/evaluation/logs/run_000/epoch_0 -M device=cpu -M do_sample=false -M tokenizer=../tiny_cpu/assets/model --limit 5 --max-tokens 8
        ;;
    run_001)
        evaluate_inspect /ttgen-golden/tiny_cpu_eval/evaluation/logs/run_001/epoch_0 "$inspect" eval /ttgen-examples/tiny_cpu_eval/tasks/tiny_arithmetic.py@tiny_arithmetic --model hf/outputs/train/tiny_eval/run_001/epoch_0 --log-dir /ttgen-golden/tiny_cpu_eval/evaluation/logs/run_001/epoch_0 -M device=cpu -M do_sample=false -M tokenizer=../tiny_cpu/assets/model --limit 5 --max-tokens 8
        ;;
    *)
        echo "ttgen: $run_id has no evaluation in this script" >&2
        code=1
        ;;
esac
if (( code == 143 )); then
    mark ended "signal=TERM"  # stopped by SIGTERM before this shell's trap ran
else
    mark ended "exit=$code"
fi
exit "$code"
