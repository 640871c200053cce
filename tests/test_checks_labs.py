"""What every lab's checks share: each check is in the registry the grader reads, and an exercise left
as the lab ships it (every function the check takes raising NotImplementedError) is reported as not
done, naming the exercise. This is why a generated lab earns no automatic points; the grader itself
is shown to give a lab nothing on the demo (tests/test_grade.py, "lab")."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest
from checks_support import Unfinished, verdict

from aelab.checks import REGISTRY, lab01, lab02, lab03, lab04, lab05, lab06, lab07, lab08, lab09, lab10

LABS = {
    "1.x": lab01,
    "2.x": lab02,
    "3.x": lab03,
    "4.x": lab04,
    "5.x": lab05,
    "6.x": lab06,
    "7.x": lab07,
    "8.x": lab08,
    "9.x": lab09,
    "10.x": lab10,
}
CASES = [(exercise, module, name) for exercise, module in LABS.items() for name in module.__all__]


@pytest.mark.parametrize(("exercise", "module", "name"), CASES, ids=[f"{e}-{n}" for e, _, n in CASES])
def test_the_check_is_registered_and_says_an_unfinished_exercise_is_not_done(
    exercise: str, module: ModuleType, name: str
) -> None:
    check = getattr(module, name)
    assert REGISTRY[name] is check
    arguments = [Unfinished(exercise) for _ in inspect.signature(check._probe).parameters]  # e.g. boundary_map, blend
    feedback = verdict(check, *arguments)
    assert not feedback.passed, feedback.message
    for fragment in ("not done yet", "NotImplementedError", f"Exercise {exercise}"):
        assert fragment in feedback.message, feedback.message
