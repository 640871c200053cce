"""Lab 07's checks: the reference passes, each usual mistake fails with its own message (the mistake
catalogue below, one case per mistake, written as a student would), tampered evidence fails without
raising."""

from __future__ import annotations

import pytest
import torch
from checks_support import verdict

from aelab import forensics
from aelab.checks import CheckFailed, lab07

# ------------------------------------------------------------------------------------ 7.1 azimuthal average


def _rings(spectrum: torch.Tensor, centre: str = "fft", radius: str = "floor", mean: bool = True) -> torch.Tensor:
    """A student's ring means: the centre at (H // 2, W // 2) ("fft") or the image's middle
    ("geometric"), the distance floored or rounded, each ring averaged or summed."""
    n, h, w = spectrum.shape
    cy, cx = (h // 2, w // 2) if centre == "fft" else ((h - 1) / 2, (w - 1) / 2)
    y = torch.arange(h, dtype=torch.float64) - cy
    x = torch.arange(w, dtype=torch.float64) - cx
    distance = torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
    rings = (distance.floor() if radius == "floor" else distance.round()).long().flatten()
    sums = torch.zeros(n, int(rings.max()) + 1, dtype=spectrum.dtype).index_add_(1, rings, spectrum.reshape(n, -1))
    return sums / torch.bincount(rings).to(spectrum.dtype) if mean else sums


def _average_precision(scores, labels, *, strict: bool = False, inverted: bool = False) -> float:
    """The notebook's loop; ``strict``: ``>`` instead of ``>=``; ``inverted``: the reals as positives."""
    scores, labels = torch.as_tensor(scores, dtype=torch.float64), torch.as_tensor(labels, dtype=torch.float64)
    if inverted:
        labels = 1 - labels
    ap, previous_recall = 0.0, 0.0
    for threshold in torch.unique(scores).flip(0):
        flagged = scores > threshold if strict else scores >= threshold
        precision = float(labels[flagged].sum() / flagged.sum())
        recall = float(labels[flagged].sum() / labels.sum())
        ap += (recall - previous_recall) * precision
        previous_recall = recall
    return ap


def _one_by_one(scores, labels) -> float:
    y = torch.as_tensor(labels, dtype=torch.float64)[torch.argsort(-torch.as_tensor(scores), stable=True)]
    return float(((y.cumsum(0) / torch.arange(1, len(y) + 1)) * y).sum() / y.sum())


def _evaluate_detector(make_detector, train, test, seed, *, held_out_on_train=False, shuffle="within classes"):
    detector = make_detector().fit(*train)
    if shuffle == "within classes":
        shuffled = forensics.shuffle_labels(train[1], seed)
    elif shuffle == "permutation":
        shuffled = train[1][torch.randperm(len(train[1]), generator=torch.Generator().manual_seed(seed))]
    else:
        shuffled = train[1]
    control = make_detector().fit(train[0], shuffled)
    scored = train if held_out_on_train else test
    return {
        "train": forensics.evaluate(detector.score(train[0]), train[1]).accuracy,
        "held_out": forensics.evaluate(detector.score(scored[0]), scored[1]).accuracy,
        "shuffled": forensics.evaluate(control.score(test[0]), test[1]).accuracy,
    }


def _blend(real, source, m):
    return source * m + real * (1 - m)


#: (exercise, check, the student's answers, a fragment the message must hold): every usual mistake.
MISTAKES = [
    (
        "7.1 rounds the distance",
        lab07.check_azimuthal_average,
        (lambda s: _rings(s, radius="round"),),
        "rounds the distance",
    ),
    (
        "7.1 geometric centre",
        lab07.check_azimuthal_average,
        (lambda s: _rings(s, centre="geometric"),),
        "geometric centre",
    ),
    ("7.1 sums each ring", lab07.check_azimuthal_average, (lambda s: _rings(s, mean=False),), "sums each ring"),
    (
        "7.1 one profile for the batch",
        lab07.check_azimuthal_average,
        (lambda s: _rings(s).mean(dim=0),),
        "one profile per spectrum",
    ),
    (
        "7.2 > instead of >=",
        lab07.check_average_precision,
        (lambda s, y: _average_precision(s, y, strict=True),),
        "not >",
    ),
    (
        "7.2 inverted labels",
        lab07.check_average_precision,
        (lambda s, y: _average_precision(s, y, inverted=True),),
        "reals' (label 0)",
    ),
    (
        "7.2 lowest score first",
        lab07.check_average_precision,
        (lambda s, y: _average_precision(-torch.as_tensor(s), y),),
        "from the lowest score",
    ),
    ("7.2 ROC AUC", lab07.check_average_precision, (forensics.auc,), "ROC AUC"),
    ("7.2 ties one at a time", lab07.check_average_precision, (_one_by_one,), "one at a time"),
    (
        "7.3 held-out scored on the training set",
        lab07.check_evaluate_detector,
        (lambda *a: _evaluate_detector(*a, held_out_on_train=True),),
        "score the held-out images",
    ),
    (
        "7.3 control fit on the true labels",
        lab07.check_evaluate_detector,
        (lambda *a: _evaluate_detector(*a, shuffle="none"),),
        "did the labels get shuffled",
    ),
    (
        "7.3 control on a plain permutation",
        lab07.check_evaluate_detector,
        (lambda *a: _evaluate_detector(*a, shuffle="permutation"),),
        "shuffle_labels",
    ),
    (
        "7.4 boundary map not scaled by 4",
        lab07.check_boundary_and_blend,
        (lambda m: m * (1 - m), _blend),
        "peaks at 0.25",
    ),
    (
        "7.4 boundary map 4·M",
        lab07.check_boundary_and_blend,
        (lambda m: 4 * m, _blend),
        "not 0 where the mask is 0 or 1",
    ),
    (
        "7.4 blend the wrong way round",
        lab07.check_boundary_and_blend,
        (forensics.boundary_map, lambda real, source, m: real * m + source * (1 - m)),
        "real image where M is 1",
    ),
]


@pytest.mark.parametrize(
    ("check", "answers"),
    [
        (lab07.check_azimuthal_average, (forensics.azimuthal_average,)),
        (lab07.check_azimuthal_average, (_rings,)),
        (lab07.check_average_precision, (forensics.average_precision,)),
        (lab07.check_average_precision, (_average_precision,)),
        (lab07.check_evaluate_detector, (_evaluate_detector,)),
        (lab07.check_boundary_and_blend, (forensics.boundary_map, _blend)),
    ],
)
def test_the_reference_passes(check, answers) -> None:
    assert verdict(check, *answers).passed


@pytest.mark.parametrize(
    ("check", "answers", "fragment"), [case[1:] for case in MISTAKES], ids=[case[0] for case in MISTAKES]
)
def test_each_mistake_gets_its_own_message(check, answers, fragment) -> None:
    feedback = verdict(check, *answers)
    assert not feedback.passed
    assert fragment in feedback.message
    assert "\n" not in feedback.message


def test_average_precision_matches_scikit_learn() -> None:
    from sklearn.metrics import average_precision_score

    for scores, labels in lab07._ap_cases():
        assert abs(_average_precision(scores, labels) - average_precision_score(labels, scores)) < 1e-12


def test_require_raises_the_message() -> None:
    with pytest.raises(CheckFailed, match="differs from the ring means"):
        lab07.check_azimuthal_average.require(lambda s: forensics.azimuthal_average(s) * 2)


@pytest.mark.parametrize(
    "check",
    [
        lab07.check_azimuthal_average,
        lab07.check_boundary_and_blend,
        lab07.check_average_precision,
        lab07.check_evaluate_detector,
    ],
)
@pytest.mark.parametrize(
    "evidence",
    [
        None,
        "passed",
        [1, 2],
        {"error": "ValueError", "detail": "x"},
        {"even": "x", "odd": [[1]]},
        {"train": 1.0},
        {"boundary": [], "blend": []},
    ],
)
def test_tampered_evidence_fails_without_raising(check, evidence) -> None:
    feedback = check.judge(evidence)
    assert not feedback.passed
