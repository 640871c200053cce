"""The check core (``aelab.checks``): probe/judge split, evidence as plain data, and the demo lab's checks."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch

import aelab.checks as checks
from aelab.checks import CheckFailed, Feedback, check, demo, floats, load_checks, plain


def _judge_half(evidence: Any) -> tuple[bool, str]:
    value = floats(evidence)
    return abs(value - 0.5) < 1e-6, f"your value is {value:.3f}"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, checks.Check]:
    """An empty REGISTRY for the test, so that the checks it defines do not leak into others."""
    fresh: dict[str, checks.Check] = {}
    monkeypatch.setattr(checks, "REGISTRY", fresh)
    return fresh


@pytest.fixture
def check_half(registry: dict[str, checks.Check]) -> checks.Check:
    @check(_judge_half)
    def check_half(fn: Any) -> Any:
        """Your fn() should return one half."""
        return fn()

    return check_half


# --- probe and judge -----------------------------------------------------------------------------


def test_probe_returns_plain_evidence_and_judge_recomputes(
    check_half: checks.Check, registry: dict[str, checks.Check]
) -> None:
    assert registry == {"check_half": check_half} and check_half.__doc__ == "Your fn() should return one half."
    assert check_half.probe(lambda: torch.tensor(0.5)) == 0.5
    assert check_half.judge(0.5) == Feedback("check_half", True, "your value is 0.500")
    assert check_half.judge(0.25) == Feedback("check_half", False, "your value is 0.250")


def test_calling_a_check_prints_its_verdict_and_raises_only_for_an_exercise_not_done(
    check_half: checks.Check, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_half(lambda: 0.5) is None  # nothing for a notebook to display twice
    assert capsys.readouterr().out == "[PASSED] check_half: your value is 0.500\n"
    assert check_half(lambda: 0.25) is None  # a wrong answer: shown, and "Run All" goes on
    assert capsys.readouterr().out == "[NOT YET] check_half: your value is 0.250\n"

    def unfinished() -> float:
        raise NotImplementedError("Exercise 0.1 half: return one half")

    with pytest.raises(CheckFailed, match=r"^\[NOT YET\] check_half: this exercise is not done yet") as failure:
        check_half(unfinished)  # "Run All" stops at the first exercise left to do
    assert capsys.readouterr().out == ""  # shown once: by the exception, as its message alone
    (line,) = failure.value._render_traceback_()
    assert line.startswith("CheckFailed: [NOT YET] check_half: this exercise is not done yet")
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert issubclass(CheckFailed, AssertionError)


def test_under_nbgrader_any_failure_raises(
    check_half: checks.Check, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # nbgrader scores a cell by whether it raises
    with pytest.raises(CheckFailed, match=r"^\[NOT YET\] check_half: your value is 0.250$"):
        check_half(lambda: 0.25)
    assert capsys.readouterr().out == ""


def test_require_raises_for_any_failure(check_half: checks.Check, capsys: pytest.CaptureFixture[str]) -> None:
    check_half.require(lambda: 0.5)
    assert capsys.readouterr().out == "[PASSED] check_half: your value is 0.500\n"
    with pytest.raises(CheckFailed, match=r"^\[NOT YET\] check_half: your value is 0.250$") as failure:
        check_half.require(lambda: 0.25)
    assert failure.value._render_traceback_() == ["CheckFailed: [NOT YET] check_half: your value is 0.250"]


def test_verified_returns_the_answer_or_the_reference_naming_the_exercise(
    check_half: checks.Check, capsys: pytest.CaptureFixture[str]
) -> None:
    def good() -> float:
        return 0.5

    def wrong() -> float:
        return 0.25

    def reference() -> float:
        return 0.5

    assert checks.verified(check_half, good, exercise="0.1", reference=reference) is good
    assert capsys.readouterr().out == ""
    assert checks.verified(check_half, wrong, exercise="0.1", reference=reference) is reference
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("[NOT YET] exercise 0.1: your answer does not pass check_half yet")
    assert line.endswith("go back to exercise 0.1.")
    with pytest.raises(TypeError, match="takes a check first"):
        checks.verified(good, good, exercise="0.1", reference=reference)  # type: ignore[arg-type]


def test_unfinished_exercise_gives_not_implemented_evidence_naming_it(check_half: checks.Check) -> None:
    def unfinished() -> float:
        raise NotImplementedError("Exercise 0.1 mean: replace this line with your code")

    class Unfinished(NotImplementedError):
        pass

    def unfinished_subclass() -> float:
        raise Unfinished("Exercise 0.2")

    evidence = check_half.probe(unfinished)
    assert evidence == {"error": "NotImplementedError", "detail": "Exercise 0.1 mean: replace this line with your code"}
    assert check_half.judge(evidence) == Feedback(
        "check_half",
        False,
        "this exercise is not done yet: NotImplementedError: Exercise 0.1 mean: replace this line with your code",
    )
    assert check_half.probe(unfinished_subclass)["error"] == "NotImplementedError"


def test_exceptions_in_student_code_become_evidence(check_half: checks.Check) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def unprintable() -> float:
        raise Unprintable

    def verbose() -> float:
        raise ValueError("x" * 2000)

    assert check_half.probe(lambda: 1 / 0) == {"error": "ZeroDivisionError", "detail": "division by zero"}
    assert str(check_half.judge(check_half.probe(lambda: 1 / 0))) == (
        "[NOT YET] check_half: your code raised ZeroDivisionError: division by zero"
    )
    assert check_half.probe(lambda: [][0])["error"] == "IndexError"
    assert check_half.probe(unprintable) == {
        "error": "Unprintable",
        "detail": "<Unprintable whose message cannot be shown>",
    }
    assert check_half.probe(verbose) == {"error": "ValueError", "detail": "x" * 500}
    not_plain = check_half.probe(lambda: object())
    assert not_plain["error"] == "TypeError" and "plain data" in not_plain["detail"]


def test_keyboard_interrupt_is_not_swallowed(check_half: checks.Check) -> None:
    def interrupted() -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_half.probe(interrupted)


@pytest.mark.parametrize(
    "evidence",
    [None, "0.5", True, [0.5], {"value": 0.5}, {"passed": True}, "nan", {"error": 7}, {"error": ["x"], "detail": {}}],
)
def test_tampered_evidence_fails_and_never_raises(check_half: checks.Check, evidence: Any) -> None:
    feedback = check_half.judge(evidence)
    assert isinstance(feedback, Feedback) and not feedback.passed and feedback.message


def test_a_judge_that_raises_gives_a_failed_feedback(registry: dict[str, checks.Check]) -> None:
    def judge(evidence: Any) -> tuple[bool, str]:
        return evidence["value"] > 0, "ok"

    @check(judge)
    def check_positive(fn: Any) -> Any:
        return {"value": fn()}

    assert check_positive.judge({"other": 1}) == Feedback(
        "check_positive", False, "the answer could not be checked (KeyError: 'value')."
    )
    assert check_positive.judge({"error": "ValueError", "detail": "x" * 5000}).message == (
        "your code raised ValueError: " + "x" * 500
    )


def test_a_lying_float_is_judged_by_its_value(check_half: checks.Check) -> None:
    class Liar(float):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = float.__hash__

        def __sub__(self, other: object) -> float:
            return 0.0

    evidence = check_half.probe(lambda: Liar(0.25))
    assert type(evidence) is float and not check_half.judge(evidence).passed


# --- plain and floats ----------------------------------------------------------------------------


def test_plain_converts_tensors_arrays_and_non_finite_numbers() -> None:
    weights = torch.tensor([[1.0, float("nan")], [float("inf"), -float("inf")]], requires_grad=True) * 1
    evidence = plain(
        {
            "tensor": weights,
            "scalar": torch.tensor(2.5),
            "array": np.arange(3, dtype=np.int64),
            "numpy": (np.float32(0.5), np.int64(3), np.bool_(True), np.float64("nan")),
            1: "key becomes a string",
            "none": None,
        }
    )
    assert evidence == {
        "tensor": [[1.0, "nan"], ["inf", "-inf"]],
        "scalar": 2.5,
        "array": [0, 1, 2],
        "numpy": [0.5, 3, True, "nan"],
        "1": "key becomes a string",
        "none": None,
    }
    assert json.loads(json.dumps(evidence, allow_nan=False)) == evidence
    assert [type(v) for v in evidence["numpy"]] == [float, int, bool, str]


def test_plain_refuses_what_is_not_data() -> None:
    for value in (object(), {1, 2}, 1 + 2j, print):
        with pytest.raises(TypeError, match="evidence must be plain data"):
            plain(value)


def test_floats_reads_numbers_back() -> None:
    values = floats([1, 2.5, ["nan", "inf", "-inf"]])
    assert values[:2] == [1.0, 2.5] and math.isnan(values[2][0]) and values[2][1:] == [math.inf, -math.inf]
    for bad in (True, "0.5", {"a": 1}, None, [1, "x"]):
        with pytest.raises(TypeError, match="expected numbers in the evidence"):
            floats(bad)


# --- the registry --------------------------------------------------------------------------------


def test_registering_a_second_check_under_a_taken_name_fails(registry: dict[str, checks.Check]) -> None:
    def first() -> checks.Check:
        @check(_judge_half)
        def check_same(fn: Any) -> Any:
            return fn()

        return check_same

    def second() -> checks.Check:
        @check(_judge_half)
        def check_same(fn: Any) -> Any:
            return fn()

        return check_same

    original = first()
    reloaded = first()  # the same function defined again, as a module reload or a re-run cell does
    assert registry["check_same"] is reloaded is not original
    with pytest.raises(ValueError, match=r"a check named 'check_same' is already registered by .*first"):
        second()


def test_load_checks_imports_every_lab_module() -> None:
    registry = load_checks()
    assert {"check_mean", "check_normalize", "check_normalize_constant"} <= set(registry)
    assert registry is checks.REGISTRY


def test_feedback_as_text_and_dict() -> None:
    feedback = Feedback("check_x", False, "try again")
    assert str(feedback) == "[NOT YET] check_x: try again"
    assert feedback.to_dict() == {"check": "check_x", "passed": False, "message": "try again"}


# --- the demo lab's checks (the worked example) ------------------------------------------------------


def _normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim=(0, 2, 3), keepdim=True, unbiased=False) + eps)


@pytest.mark.parametrize(
    ("check_", "answer", "message"),
    [
        (demo.check_mean, lambda x: x.sum() / x.numel(), "your mean matches the reference on a fixed batch."),
        (
            demo.check_mean,
            lambda x: x.mean(dim=0),
            "your mean returned a tensor of shape (3, 4, 4); expected one number (a float or a 0-d tensor).",
        ),
        (
            demo.check_mean,
            lambda x: x.mean() + 1,
            "your mean is 1.4913 on a fixed batch of shape (2, 3, 4, 4), "
            "which is not the mean over all 96 elements (batch, channels, height and width).",
        ),
        (demo.check_normalize, _normalize, "your normalize matches the reference on a fixed batch."),
        (
            demo.check_normalize,
            lambda x: (x - x.mean()) / x.std(),
            "on a fixed batch, channel 2 of your output has mean -0.161 and std 1.071 over (N, H, W); "
            "expected mean 0.000 and std 1.000.",
        ),
        (
            demo.check_normalize,
            lambda x: x[0],
            "your output has shape (3, 4, 4) on a fixed batch; expected the input's shape (2, 3, 4, 4).",
        ),
        (
            demo.check_normalize_constant,
            _normalize,
            "your normalize matches the reference on a batch whose channel 0 is constant.",
        ),
        (
            demo.check_normalize_constant,
            lambda x: _normalize(x, eps=0.0),
            "your output holds NaN or infinity on a batch whose channel 0 is constant; is eps inside the square root?",
        ),
    ],
)
def test_demo_checks(check_: checks.Check, answer: Any, message: str) -> None:
    feedback = check_.judge(json.loads(json.dumps(check_.probe(answer))))
    assert feedback.message == message
    assert feedback.passed == ("matches the reference" in message)


@pytest.mark.parametrize("evidence", [None, "x", [[1, 2], [3]], {"a": 1}, [True]])
def test_demo_judges_refuse_tampered_evidence(evidence: Any) -> None:
    for check_ in (demo.check_mean, demo.check_normalize, demo.check_normalize_constant):
        assert not check_.judge(evidence).passed


# --- evidence parsers and the upstream references -------------------------------------------------


def test_evidence_parsers_read_numbers_back_or_refuse() -> None:
    assert checks.tensor([[1, "nan"], [2, 3]]).dtype == torch.float64
    assert checks.shape([[1.0, 2.0, 3.0]]) == (1, 3) and checks.shape(0.5) == ()
    assert checks.numbers([1, 2.5], 2, "ssim") == [1.0, 2.5]
    assert checks.numbers([1, [2.0, 3.0]], 2, "ssim") == (
        "your ssim returned a tensor of shape (2,); expected one number (a 0-d tensor)."
    )
    for bad in ([1.0], "1", {"a": 1}, [True, 1.0]):
        with pytest.raises(TypeError):
            checks.numbers(bad, 2, "ssim")


def test_upstream_swaps_in_references_only_where_the_student_defined_them() -> None:
    notebook: dict[str, Any] = {}
    exec("def up(x):\n    return x + 100\n\ndef down(x):\n    return up(x) * 2\n", notebook)
    own = notebook["up"]
    with checks.upstream(notebook["down"], up=lambda x: x + 1, absent=lambda: None):
        assert notebook["down"](1) == 4 and "absent" not in notebook
    assert notebook["up"] is own and notebook["down"](1) == 202
    with pytest.raises(ZeroDivisionError):
        with checks.upstream(notebook["down"], up=lambda x: x / 0):
            notebook["down"](1)
    assert notebook["up"] is own
    with checks.upstream(len, up=lambda x: x):  # not a Python function: runs as it is
        assert len([1]) == 1
