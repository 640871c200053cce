"""Lab 08's checks: the reference passes, the usual mistakes fail with their own message, tampered
evidence fails without raising."""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from aelab import checks, models, stats
from aelab.checks import CheckFailed, lab08
from aelab.course import lab08 as recipe


def _count(module: nn.Module) -> int:
    return models.count_parameters(module)


def test_h128_parameters() -> None:
    check = lab08.check_h128_parameters
    assert check.judge(check.probe(lab08._reference_count)).passed
    feedback = check.judge(check.probe(lambda r, ae, e: lab08._count(r, ae, e, decoders=1)))
    assert not feedback.passed and "one decoder" in feedback.message
    feedback = check.judge(check.probe(lambda r, ae, e: lab08._count(r, ae, e, shuffle=1)))
    assert not feedback.passed and "pixel shuffle" in feedback.message
    feedback = check.judge(check.probe(lambda r, ae, e: lab08._count(r, ae, e) + 1))
    assert not feedback.passed and "off by +1" in feedback.message
    with pytest.raises(CheckFailed, match="biases"):
        check.require(lambda r, ae, e: lab08._count(r, ae, e, biases=False))


def _front(points: dict) -> list:
    return stats.pareto_front(points)


#: Lab 08's mistake catalogue for 8.2: each wrong pareto_front and the words its message must hold.
FRONT_MISTAKES = {
    "higher detectability taken as better": (
        lambda p: _front({n: (q, -d) for n, (q, d) in p.items()}),
        "treats a higher detectability as better",
    ),
    "lower quality taken as better": (
        lambda p: _front({n: (-q, d) for n, (q, d) in p.items()}),
        "treats a lower quality as better",
    ),
    "reversed dominance": (lambda p: _front({n: (-q, -d) for n, (q, d) in p.items()}), "reverses the dominance"),
    "the dominated points": (lambda p: [n for n in p if n not in _front(p)], "returns the dominated points"),
    "names sorted": (lambda p: sorted(_front(p)), "right names, sorted by name; keep the order of the points"),
    "names in reverse": (lambda p: _front(p)[::-1], "right names, in another order"),
    "ties dropped": (
        lambda p: [n for n, (q, d) in p.items() if not any(q2 >= q and d2 <= d for m, (q2, d2) in p.items() if m != n)],
        "drops points that tie with another",
    ),
    "a count, not names": (lambda p: [len(_front(p))], "list of the names"),
}


def test_pareto_front() -> None:
    check = lab08.check_pareto_front
    assert check.judge(check.probe(stats.pareto_front)).passed


@pytest.mark.parametrize("mistake", list(FRONT_MISTAKES))
def test_pareto_front_mistakes_name_their_fault(mistake: str) -> None:
    check = lab08.check_pareto_front
    answer, words = FRONT_MISTAKES[mistake]
    feedback = check.judge(check.probe(answer))
    assert not feedback.passed and words in feedback.message, feedback.message


def test_a_wrong_front_downstream_names_exercise_8_2_and_the_reference_takes_over(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong, _ = FRONT_MISTAKES["reversed dominance"]
    used = checks.verified(lab08.check_pareto_front, wrong, exercise="8.2", reference=stats.pareto_front)
    assert used is stats.pareto_front
    assert "exercise 8.2" in capsys.readouterr().out
    assert checks.verified(lab08.check_pareto_front, _front, exercise="8.2", reference=stats.pareto_front) is _front


def _row(parameters: int) -> recipe.Row:
    fields = [f.name for f in dataclasses.fields(recipe.Row)]
    return recipe.Row(**{name: (parameters if name == "parameters" else 0.5) for name in fields})


def _lighter() -> models.H128:
    return models.H128(resolution=32, ae_dims=32, e_dims=16)


def test_variant() -> None:
    check = lab08.check_variant
    rows = {name: _row(_count(models.from_spec(spec))) for name, spec in recipe.MODELS.items()}
    feedback = check.judge(check.probe(_lighter, {**rows, "mine": _row(_count(_lighter()))}))
    assert feedback.passed, feedback.message
    feedback = check.judge(check.probe(_lighter, rows))
    assert not feedback.passed and "no row for your variant" in feedback.message
    feedback = check.judge(check.probe(lambda: models.from_spec(recipe.MODELS["DF"], seed=3), rows))
    assert not feedback.passed and "the benchmark's DF itself" in feedback.message
    feedback = check.judge(check.probe(lambda: models.H128(resolution=64, ae_dims=32, e_dims=16), rows))
    assert not feedback.passed and "at 32 px" in feedback.message
    feedback = check.judge(check.probe(lambda: models.ConvAutoencoder(32), rows))
    assert not feedback.passed and "SwapModel" in feedback.message


@pytest.mark.parametrize("check", [lab08.check_h128_parameters, lab08.check_pareto_front, lab08.check_variant])
@pytest.mark.parametrize(
    "evidence",
    [
        None,
        "passed",
        [1, 2],
        {"error": "ValueError", "detail": "x"},
        {"swap_model": True},
        [[1], [2], "x"],
        {"swap_model": True, "forward": 3},
    ],
)
def test_tampered_evidence_fails_without_raising(check, evidence) -> None:
    assert not check.judge(evidence).passed
