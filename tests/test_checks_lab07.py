"""Lab 07's checks: the reference passes, the usual mistakes fail with their own message, tampered
evidence fails without raising."""

from __future__ import annotations

import pytest
import torch

from aelab import forensics
from aelab.checks import CheckFailed, lab07


def _rounded_rings(spectrum: torch.Tensor) -> torch.Tensor:
    n, h, w = spectrum.shape
    y = torch.arange(h, dtype=torch.float64) - h // 2
    x = torch.arange(w, dtype=torch.float64) - w // 2
    rings = torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2).round().long().flatten()
    sums = torch.zeros(n, int(rings.max()) + 1, dtype=torch.float64).index_add_(1, rings, spectrum.reshape(n, -1))
    return sums / torch.bincount(rings).double()


def test_azimuthal_average() -> None:
    check = lab07.check_azimuthal_average
    assert check.judge(check.probe(forensics.azimuthal_average)).passed
    feedback = check.judge(check.probe(_rounded_rings))
    assert not feedback.passed and "rounds the distance" in feedback.message
    feedback = check.judge(check.probe(lambda s: forensics.azimuthal_average(s)[0]))
    assert not feedback.passed and "one profile per spectrum" in feedback.message
    with pytest.raises(CheckFailed):
        check.require(lambda s: forensics.azimuthal_average(s) * 2)


def test_boundary_and_blend() -> None:
    check = lab07.check_boundary_and_blend
    blend = lambda real, source, m: source * m + real * (1 - m)  # noqa: E731
    assert check.judge(check.probe(forensics.boundary_map, blend)).passed
    feedback = check.judge(check.probe(lambda m: m * (1 - m), blend))
    assert not feedback.passed and "peaks at 0.25" in feedback.message
    feedback = check.judge(check.probe(forensics.boundary_map, lambda real, source, m: real * m + source * (1 - m)))
    assert not feedback.passed and "real image where M is 1" in feedback.message
    feedback = check.judge(check.probe(lambda m: 4 * m, blend))
    assert not feedback.passed and "not 0 where the mask is 0 or 1" in feedback.message


def test_average_precision() -> None:
    check = lab07.check_average_precision
    assert check.judge(check.probe(forensics.average_precision)).passed
    feedback = check.judge(check.probe(forensics.auc))
    assert not feedback.passed and "ROC AUC" in feedback.message

    def one_by_one(scores, labels):
        y = torch.as_tensor(labels, dtype=torch.float64)[torch.argsort(-torch.as_tensor(scores), stable=True)]
        return float(((y.cumsum(0) / torch.arange(1, len(y) + 1)) * y).sum() / y.sum())

    feedback = check.judge(check.probe(one_by_one))
    assert not feedback.passed and "one at a time" in feedback.message


def _evaluate_detector(make_detector, train, test, seed):
    detector = make_detector().fit(*train)
    control = make_detector().fit(train[0], forensics.shuffle_labels(train[1], seed))
    return {"train": forensics.evaluate(detector.score(train[0]), train[1]).accuracy,
            "held_out": forensics.evaluate(detector.score(test[0]), test[1]).accuracy,
            "shuffled": forensics.evaluate(control.score(test[0]), test[1]).accuracy}


def test_evaluate_detector() -> None:
    check = lab07.check_evaluate_detector
    assert check.judge(check.probe(_evaluate_detector)).passed

    def on_training_set(make_detector, train, test, seed):
        out = _evaluate_detector(make_detector, train, test, seed)
        return {**out, "held_out": out["train"]}

    feedback = check.judge(check.probe(on_training_set))
    assert not feedback.passed and "held-out" in feedback.message

    def unshuffled(make_detector, train, test, seed):
        out = _evaluate_detector(make_detector, train, test, seed)
        return {**out, "shuffled": out["held_out"]}

    feedback = check.judge(check.probe(unshuffled))
    assert not feedback.passed and "shuffled" in feedback.message

    def plain_permutation(make_detector, train, test, seed):
        out = _evaluate_detector(make_detector, train, test, seed)
        order = torch.randperm(len(train[1]), generator=torch.Generator().manual_seed(seed))
        control = make_detector().fit(train[0], train[1][order])
        return {**out, "shuffled": forensics.evaluate(control.score(test[0]), test[1]).accuracy}

    feedback = check.judge(check.probe(plain_permutation))
    assert not feedback.passed and "shuffle_labels" in feedback.message


@pytest.mark.parametrize("check", [lab07.check_azimuthal_average, lab07.check_boundary_and_blend,
                                   lab07.check_average_precision, lab07.check_evaluate_detector])
@pytest.mark.parametrize("evidence", [None, "passed", [1, 2], {"error": "ValueError", "detail": "x"},
                                      {"even": "x", "odd": [[1]]}, {"train": 1.0}, {"boundary": [], "blend": []}])
def test_tampered_evidence_fails_without_raising(check, evidence) -> None:
    feedback = check.judge(evidence)
    assert not feedback.passed
