"""Lab 06's checks (``aelab.checks.lab06``): the references pass, the usual mistakes fail with a message
that names them, tampered evidence fails without raising (unfinished exercises: test_checks_labs.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.linalg
from checks_support import verdict

from aelab import realism
from aelab.checks import CheckFailed, lab06, verified


@pytest.mark.parametrize("name", lab06.__all__)
@pytest.mark.parametrize("evidence", [None, 3, "nan", [], {}, ["x", "y", "z", "w"], [[1.0]] * 4, ["nan"] * 4])
def test_tampered_evidence_fails_without_raising(name: str, evidence: Any) -> None:
    feedback = getattr(lab06, name).judge(evidence)
    assert not feedback.passed


# ---------------------------------------------------------------- 6.1 Fréchet distance


def fd_numpy(
    a: np.ndarray,
    b: np.ndarray,
    *,
    bias: bool = False,
    mean: bool = True,
    twice: bool = True,
    root: bool = False,
    rowvar: bool = False,
) -> float:
    cov_a, cov_b = np.cov(a, rowvar=rowvar, bias=bias), np.cov(b, rowvar=rowvar, bias=bias)
    value = (
        (((a.mean(0) - b.mean(0)) ** 2).sum() if mean else 0.0)
        + np.trace(cov_a)
        + np.trace(cov_b)
        - (2 if twice else 1) * np.trace(scipy.linalg.sqrtm(cov_a @ cov_b).real)
    )
    return float(np.sqrt(value)) if root else float(value)


def test_frechet_distance_reference_passes(capsys: pytest.CaptureFixture[str]) -> None:
    lab06.check_frechet_distance(realism.frechet_distance)
    assert capsys.readouterr().out.startswith("[PASSED]")
    assert verdict(lab06.check_frechet_distance, fd_numpy).passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda a, b: fd_numpy(a, b, bias=True), "divides the covariances by N"),
        (lambda a, b: fd_numpy(a, b, mean=False), "leaves out the distance between the means"),
        (lambda a, b: fd_numpy(a, b, twice=False), "subtracts the trace of (Σa Σb)^½ once"),
        (lambda a, b: fd_numpy(a, b, root=True), "returns the square root"),
        (
            lambda a, b: float(
                ((a.mean(0) - b.mean(0)) ** 2).sum()
                + np.var(a, 0, ddof=1).sum()
                + np.var(b, 0, ddof=1).sum()
                - 2 * np.sqrt(np.var(a, 0, ddof=1) * np.var(b, 0, ddof=1)).sum()
            ),
            "uses the variances alone",
        ),
        (lambda a, b: fd_numpy(a, b, rowvar=True), "np.cov treats rows as variables unless rowvar=False"),
        (lambda a, b: 1.0, "gives 1; expected"),
        (lambda a, b: [1.0, 2.0], "must return one number"),
    ],
)
def test_frechet_distance_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab06.check_frechet_distance, wrong)
    assert not feedback.passed and message in feedback.message, feedback.message


@pytest.mark.parametrize(
    ("wrong", "fault"),
    [
        (lambda a, b: fd_numpy(a, b, bias=True), "divides the covariances by N"),
        (lambda a, b: fd_numpy(a, b, root=True), "returns the square root"),
    ],
)
def test_a_wrong_frechet_distance_never_reaches_the_later_cells(
    wrong: Any, fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lab's later cells take verified(...): the reference, and one line naming exercise 6.1.
    lab06.check_frechet_distance(wrong)
    assert fault in capsys.readouterr().out
    used = verified(lab06.check_frechet_distance, wrong, exercise="6.1", reference=realism.frechet_distance)
    assert used is realism.frechet_distance
    assert capsys.readouterr().out.startswith("[NOT YET] exercise 6.1:")
    assert (
        verified(lab06.check_frechet_distance, fd_numpy, exercise="6.1", reference=realism.frechet_distance) is fd_numpy
    )


# ---------------------------------------------------------------- 6.2 unbiased MMD²


def mmd2(x: np.ndarray, y: np.ndarray) -> float:
    m, d = x.shape
    k_xx, k_yy, k_xy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    return float((k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1)) - 2 * k_xy.mean())


def test_mmd2_unbiased_reference_passes() -> None:
    assert verdict(lab06.check_mmd2_unbiased, mmd2).passed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"diagonal": True}, "biased estimator"),
        ({"over_m2": True}, "still divides by m²"),
        ({"scaled": False}, "divides the dot product by the dimension d"),
        ({"power": 2}, "uses a quadratic kernel"),
        ({"cross": 2.0}, "adds the cross term"),
        ({"cross": -1.0}, "subtracts the cross term once"),
    ],
)
def test_mmd2_unbiased_mistakes_are_named(options: dict, message: str) -> None:
    feedback = verdict(lab06.check_mmd2_unbiased, lambda x, y: lab06._mmd2(x, y, **options))
    assert not feedback.passed and message in feedback.message, feedback.message


def test_frechet_distance_names_another_value_error_without_guessing() -> None:
    def raises(a: np.ndarray, b: np.ndarray) -> float:
        raise ValueError("array must not contain infs or NaNs")

    feedback = verdict(lab06.check_frechet_distance, raises)
    assert not feedback.passed and "raised ValueError: array must not contain infs" in feedback.message


def test_mmd2_unbiased_sign_is_named() -> None:
    feedback = verdict(lab06.check_mmd2_unbiased, lambda x, y: -mmd2(x, y))
    assert not feedback.passed and "wrong sign" in feedback.message


# ---------------------------------------------------------------- 6.3 coverage


def test_coverage_reference_passes() -> None:
    assert verdict(lab06.check_coverage, lambda r, f, k: realism.prdc(r, f, k).coverage).passed
    assert verdict(lab06.check_coverage, lambda r, f, k: lab06._coverage_variant(r, f, k)).passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda r, f, k: lab06._coverage_variant(r, f, k, self_neighbour=True), "(k − 1)-th neighbour"),
        (lambda r, f, k: lab06._coverage_variant(r, f, k, open_ball=True), "your balls are open"),
        (lambda r, f, k: realism.prdc(r, f, k).precision, "you computed precision"),
        (lambda r, f, k: 0.5, "gives 0.5; expected"),
    ],
)
def test_coverage_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab06.check_coverage, wrong)
    assert not feedback.passed and message in feedback.message, feedback.message


def test_a_failed_check_raises_check_failed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CheckFailed, match=r"^\[NOT YET\] check_coverage:"):
        lab06.check_coverage.require(lambda r, f, k: 0.5)
    assert capsys.readouterr().out == ""  # the message is shown once, by the exception
