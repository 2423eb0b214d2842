#!/bin/bash
# SLURM job evaluating the base model of experiment tiny_cpu_eval as a control, written by ttgen
# (evaluation/evaluations.yaml, run id baseline; docs/evaluating.md). `ttgen submit` submits it once, with nothing
# to wait for. Logs: slurm/logs/eval_baseline-<job id>.out and .err; Inspect AI's logs: evaluation/logs/baseline/.
#SBATCH --job-name=tiny_cpu_eval_eval_baseline
#SBATCH --output=/ttgen-golden/tiny_cpu_eval/slurm/logs/eval_baseline-%j.out
#SBATCH --error=/ttgen-golden/tiny_cpu_eval/slurm/logs/eval_baseline-%j.err
#SBATCH --time=00:20:00

set -euo pipefail

run_id=baseline
config=/ttgen-golden/tiny_cpu_eval/base_config.yaml
if [[ ! -f $config ]]; then
    echo "ttgen: config $config not found" >&2
    exit 1
fi
echo "ttgen: experiment tiny_cpu_eval, $run_id, job ${SLURM_JOB_ID:-none} on ${HOSTNAME}"
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
    baseline)
        evaluate_inspect /ttgen-golden/tiny_cpu_eval/evaluation/logs/baseline "$inspect" eval /ttgen-examples/tiny_cpu_eval/tasks/tiny_arithmetic.py@tiny_arithmetic --model hf/../tiny_cpu/assets/model --log-dir /ttgen-golden/tiny_cpu_eval/evaluation/logs/baseline -M device=cpu -M do_sample=false -M tokenizer=../tiny_cpu/assets/model --limit 5 --max-tokens 8
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
