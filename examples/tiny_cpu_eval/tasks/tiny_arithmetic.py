"""A tiny Inspect AI task for the tiny CPU model: five additions, scored by `includes`.

    inspect eval tasks/tiny_arithmetic.py@tiny_arithmetic --model hf/<checkpoint folder> -M tokenizer=<tokenizer folder>

The samples are in the form the model trained on (examples/tiny_cpu/make_assets.py: "Add the
two numbers." with "a and b"); the `includes` scorer counts an answer correct when the sum
appears in it. A randomly initialised model trained for 4 steps scores about 0: the point is
that the evaluation runs end to end, offline, and its score can be read back.
"""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

PAIRS = ((3, 5), (10, 16), (17, 27), (24, 38), (31, 12))


@task
def tiny_arithmetic() -> Task:
    return Task(
        dataset=[Sample(input=f"Add the two numbers.\n{a} and {b}", target=str(a + b), id=f"add_{a}_{b}")
                 for a, b in PAIRS],
        solver=[generate()],
        scorer=includes(),
    )
