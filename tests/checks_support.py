"""What the tests of the labs' checks share: probing and judging as the grader does, and an exercise
left as the lab ships it."""

from __future__ import annotations

import json
from typing import Any


def verdict(check: Any, *answers: Any) -> Any:
    """Probe ``answers`` and judge as the grader does: through JSON."""
    evidence = check.probe(*answers)
    return check.judge(json.loads(json.dumps(evidence)))


class Unfinished:
    """An exercise left as the lab ships it: calling it (a function) or reading it (a set) raises
    ``NotImplementedError("Exercise <exercise>: replace this line with your code")``."""

    def __init__(self, exercise: str) -> None:
        self.exercise = exercise

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        raise NotImplementedError(f"Exercise {self.exercise}: replace this line with your code")

    def __iter__(self) -> Any:
        return self()
