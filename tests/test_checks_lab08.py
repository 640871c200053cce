"""Lab 08's checks: the reference passes, the usual mistakes fail with their own message, tampered
evidence fails without raising."""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from aelab import benchmark, models
from aelab.checks import CheckFailed, lab08


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


def test_pareto_front() -> None:
    check = lab08.check_pareto_front
    assert check.judge(check.probe(benchmark.pareto_front)).passed
    feedback = check.judge(check.probe(lambda p: benchmark.pareto_front({n: (q, -d) for n, (q, d) in p.items()})))
    assert not feedback.passed and "higher detectability" in feedback.message
    feedback = check.judge(check.probe(lambda p: sorted(benchmark.pareto_front(p), reverse=True)))
    assert not feedback.passed and "another order" in feedback.message
    feedback = check.judge(check.probe(lambda p: [len(benchmark.pareto_front(p))]))
    assert not feedback.passed and "list of the names" in feedback.message


def _row(parameters: int) -> benchmark.Row:
    fields = [f.name for f in dataclasses.fields(benchmark.Row)]
    return benchmark.Row(**{name: (parameters if name == "parameters" else 0.5) for name in fields})


def _lighter() -> models.H128:
    return models.H128(resolution=32, ae_dims=32, e_dims=16)


def test_variant() -> None:
    check = lab08.check_variant
    rows = {name: _row(_count(benchmark.build(spec))) for name, spec in benchmark.MODELS.items()}
    feedback = check.judge(check.probe(_lighter, {**rows, "mine": _row(_count(_lighter()))}))
    assert feedback.passed, feedback.message
    feedback = check.judge(check.probe(_lighter, rows))
    assert not feedback.passed and "no row for your variant" in feedback.message
    feedback = check.judge(check.probe(lambda: benchmark.build(benchmark.MODELS["DF"], seed=3), rows))
    assert not feedback.passed and "the benchmark's DF itself" in feedback.message
    feedback = check.judge(check.probe(lambda: models.H128(resolution=64, ae_dims=32, e_dims=16), rows))
    assert not feedback.passed and "at 32 px" in feedback.message
    feedback = check.judge(check.probe(lambda: models.ConvAutoencoder(32), rows))
    assert not feedback.passed and "SwapModel" in feedback.message
    partial = {name: row for name, row in rows.items() if name != "AE"}
    feedback = check.judge(check.probe(_lighter, {**partial, "mine": _row(_count(_lighter()))}))
    assert not feedback.passed and "lacks the benchmark's AE" in feedback.message


@pytest.mark.parametrize("check", [lab08.check_h128_parameters, lab08.check_pareto_front, lab08.check_variant])
@pytest.mark.parametrize("evidence", [None, "passed", [1, 2], {"error": "ValueError", "detail": "x"},
                                      {"swap_model": True}, [[1], [2], "x"], {"swap_model": True, "forward": 3}])
def test_tampered_evidence_fails_without_raising(check, evidence) -> None:
    assert not check.judge(evidence).passed
