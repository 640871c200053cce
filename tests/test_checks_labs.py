"""What every lab's checks share (labs 03–06; the others test it in their own files): each check is in
the registry the grader reads, and an exercise left as the lab ships it is reported as not done,
naming the exercise."""

from __future__ import annotations

from types import ModuleType

import pytest
from checks_support import Unfinished, verdict

from aelab.checks import REGISTRY, lab03, lab04, lab05, lab06

LABS = {"3.x": lab03, "4.x": lab04, "5.x": lab05, "6.x": lab06}
CASES = [(exercise, module, name) for exercise, module in LABS.items() for name in module.__all__]


@pytest.mark.parametrize(("exercise", "module", "name"), CASES, ids=[f"{e}-{n}" for e, _, n in CASES])
def test_the_check_is_registered_and_says_an_unfinished_exercise_is_not_done(exercise: str, module: ModuleType,
                                                                              name: str) -> None:
    check = getattr(module, name)
    assert REGISTRY[name] is check
    feedback = verdict(check, Unfinished(exercise))
    assert not feedback.passed and "not done yet" in feedback.message and f"Exercise {exercise}" in feedback.message
