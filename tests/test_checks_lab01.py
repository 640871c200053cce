"""Lab 01's checks (``aelab.checks.lab01``): the reference passes, the usual mistakes fail with a message
that names them, unfinished exercises and tampered evidence fail without raising."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from aelab import losses
from aelab.checks import CheckFailed, lab01

# --- reference answers (what the solution notebook writes) ------------------------------------------


def gaussian_window(kernel_size: int, sigma: float = 1.5) -> torch.Tensor:
    d = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
    w = torch.exp(-(d**2) / (2 * sigma**2))
    return w / w.sum()


def _blur(x: torch.Tensor, window: torch.Tensor, padding: int = 0) -> torch.Tensor:
    c, k = x.shape[1], window.numel()
    return F.conv2d(x, (window[:, None] * window[None, :]).expand(c, 1, k, k), groups=c, padding=padding)


def make_ssim(
    window: Callable[[int, float], torch.Tensor] = gaussian_window,
    *,
    padding: bool = False,
    constants: bool = True,
    swap_k: bool = False,
    use_options: bool = True,
) -> Callable[..., torch.Tensor]:
    """The reference SSIM, or one of its usual mistakes."""

    def ssim(
        x: torch.Tensor, y: torch.Tensor, kernel_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03
    ) -> torch.Tensor:
        if not use_options:
            sigma, k1, k2 = 1.5, 0.01, 0.03
        if swap_k:
            k1, k2 = k2, k1
        w = window(kernel_size, sigma)
        pad = kernel_size // 2 if padding else 0
        mx, my = _blur(x, w, pad), _blur(y, w, pad)
        vx, vy = _blur(x * x, w, pad) - mx**2, _blur(y * y, w, pad) - my**2
        cov = _blur(x * y, w, pad) - mx * my
        c1, c2 = (k1**2, k2**2) if constants else (0.0, 0.0)
        return (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()

    return ssim


ssim = make_ssim()


def dssim(x: torch.Tensor, y: torch.Tensor, **options: Any) -> torch.Tensor:
    return (1 - ssim(x, y, **options)) / 2


def dfl_loss(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    kernel_size = int(target.shape[-1] / 11.6)
    return 10 * dssim(target, pred, kernel_size=kernel_size) + 10 * ((target - pred) ** 2).mean()


def gradient_energy(x: torch.Tensor) -> torch.Tensor:
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """The checks run dozens of tiny convolutions, whose cost on a busy machine is mostly the
    synchronisation of torch's threads; one thread keeps the module fast there."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _verdict(check: Any, answer: Callable[..., Any]) -> tuple[bool, str]:
    """Probe, send the evidence through JSON as the grader does, judge."""
    feedback = check.judge(json.loads(json.dumps(check.probe(answer))))
    return feedback.passed, feedback.message


# --- the reference passes, and calling a check prints -----------------------------------------------

REFERENCE = [
    (lab01.check_gaussian_window, gaussian_window),
    (lab01.check_ssim, ssim),
    (lab01.check_ssim_options, ssim),
    (lab01.check_dssim, dssim),
    (lab01.check_dfl_loss, dfl_loss),
    (lab01.check_gradient_energy, gradient_energy),
]


@pytest.mark.parametrize(("check", "answer"), REFERENCE, ids=[c.name for c, _ in REFERENCE])
def test_reference_answers_pass(check: Any, answer: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert check(answer) is None
    assert capsys.readouterr().out.startswith(f"[PASSED] {check.name}: ")


def test_the_library_passes_its_own_checks() -> None:
    """aelab.losses is the reference the judges use; the checks accept it as an answer too."""
    assert _verdict(lab01.check_gaussian_window, losses.gaussian_window)[0]
    assert _verdict(lab01.check_ssim, lambda x, y, **o: losses.ssim(x, y, **o))[0]
    assert _verdict(lab01.check_dssim, lambda x, y, **o: losses.dssim(x, y, **o))[0]
    assert _verdict(lab01.check_dfl_loss, lambda t, p: losses.reconstruction_loss(t, p, t.shape[-1]))[0]


def test_a_failed_check_raises_with_its_message_shown_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CheckFailed, match=r"^\[NOT YET\] check_dssim: .*divide by 2") as failure:
        lab01.check_dssim.require(lambda x, y, **o: 1 - ssim(x, y, **o))
    assert capsys.readouterr().out == ""  # the exception carries the message; nothing printed besides
    (line,) = failure.value._render_traceback_()  # what IPython shows: the message, no library frames
    assert line.startswith("CheckFailed: [NOT YET] check_dssim:")


# --- each exercise judged on its own ----------------------------------------------------------------

#: A student's notebook whose ssim takes c1 = k1 and c2 = k2 (not their squares), whose dssim and
#: dfl_loss are right and call that ssim, as the notebook's cells do.
WRONG_SSIM_NOTEBOOK = """
import torch
import torch.nn.functional as F

def gaussian_window(kernel_size, sigma=1.5):
    d = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
    w = torch.exp(-(d**2) / (2 * sigma**2))
    return w / w.sum()

def ssim(x, y, kernel_size=11, sigma=1.5, k1=0.01, k2=0.03):
    g = gaussian_window(kernel_size, sigma)
    c, k = x.shape[1], kernel_size
    w = (g[:, None] * g[None, :]).expand(c, 1, k, k)
    blur = lambda t: F.conv2d(t, w, groups=c)
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = k1, k2
    return (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()

def dssim(x, y, **options):
    return (1 - ssim(x, y, **options)) / 2

def dfl_loss(target, pred):
    return 10 * dssim(target, pred, kernel_size=int(target.shape[-1] / 11.6)) + 10 * F.mse_loss(pred, target)
"""


def test_a_wrong_ssim_costs_the_ssim_exercise_only() -> None:
    notebook: dict[str, Any] = {}
    exec(WRONG_SSIM_NOTEBOOK, notebook)
    own_ssim = notebook["ssim"]
    passed, text = _verdict(lab01.check_ssim, notebook["ssim"])
    assert not passed and "c1 = k1 and c2 = k2" in text and "squares" in text
    assert _verdict(lab01.check_dssim, notebook["dssim"]) == (
        True,
        "your dssim is (1 - SSIM) / 2 on every fixed case, options passed through.",
    )
    assert _verdict(lab01.check_dfl_loss, notebook["dfl_loss"])[0]
    assert notebook["ssim"] is own_ssim  # the student's own ssim is back after the checks


def test_a_wrong_window_costs_the_window_exercise_only() -> None:
    notebook: dict[str, Any] = {}
    exec(
        WRONG_SSIM_NOTEBOOK.replace("c1, c2 = k1, k2", "c1, c2 = k1**2, k2**2").replace(
            "return w / w.sum()", "return w"
        ),
        notebook,
    )
    assert not _verdict(lab01.check_gaussian_window, notebook["gaussian_window"])[0]
    assert _verdict(lab01.check_ssim, notebook["ssim"])[0]


# --- the usual mistakes, each named -----------------------------------------------------------------


def _window_not_normalised(k: int, sigma: float) -> torch.Tensor:
    d = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    return torch.exp(-(d**2) / (2 * sigma**2))


def _window_centred_at_half(k: int, sigma: float) -> torch.Tensor:
    d = torch.arange(k, dtype=torch.float32) - k // 2
    w = torch.exp(-(d**2) / (2 * sigma**2))
    return w / w.sum()


def _window_sigma_not_squared(k: int, sigma: float) -> torch.Tensor:
    d = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    w = torch.exp(-(d**2) / (2 * sigma))
    return w / w.sum()


def _box_window(k: int, sigma: float) -> torch.Tensor:
    return torch.full((k,), 1.0 / k)


MISTAKES = [
    (lab01.check_gaussian_window, _window_not_normalised, "sums to .* normalise"),
    (lab01.check_gaussian_window, _window_centred_at_half, r"gaussian_window\(2, 1.5\) is not symmetric"),
    (lab01.check_gaussian_window, _window_sigma_not_squared, "sigma instead of sigma²"),
    (lab01.check_gaussian_window, lambda k, s: gaussian_window(k, s)[None], r"shape \(1, 11\); expected \(11,\)"),
    (lab01.check_ssim, make_ssim(padding=True), "padded.*valid"),
    (lab01.check_ssim, make_ssim(_box_window), "uniform \\(box\\) window"),
    (lab01.check_ssim, make_ssim(_window_centred_at_half), r"kernel_size=2 .*centred at kernel_size // 2"),
    (lab01.check_ssim, make_ssim(_window_sigma_not_squared), "sigma instead of sigma²"),
    (lab01.check_ssim, make_ssim(swap_k=True), "k1 and k2 are swapped"),
    (lab01.check_ssim, make_ssim(constants=False), "c1 and c2 are missing"),
    (
        lab01.check_ssim,
        lambda x, y, **o: ssim(x, y, **o) if x.max() > x.min() else torch.tensor(float("nan")),
        "flat images .* is NaN.*c1",
    ),
    (lab01.check_ssim, lambda x, y, **o: ssim(x, y, **o) * 0.5, r"with itself, your ssim is 0.5000; expected 1.0000"),
    (lab01.check_ssim, lambda x, y, **o: torch.ones(x.shape[0]), r"shape \(2,\); expected one number"),
    (lab01.check_ssim_options, make_ssim(use_options=False), "as with the default sigma, k1 and k2"),
    (lab01.check_dssim, lambda x, y, **o: 1 - ssim(x, y, **o), "1 - SSIM: divide by 2"),
    (lab01.check_dssim, lambda x, y, **o: ssim(x, y, **o), "the SSIM itself"),
    (lab01.check_dssim, lambda x, y, **o: (1 + ssim(x, y, **o)) / 2, r"\(1 \+ SSIM\) / 2"),
    (lab01.check_dssim, lambda x, y, **o: (1 - ssim(x, y)) / 2, "pass the keyword arguments"),
    (lab01.check_dfl_loss, lambda t, p: 10 * dssim(t, p) + 10 * F.mse_loss(p, t), "11-pixel window"),
    (
        lab01.check_dfl_loss,
        lambda t, p: 10 * dssim(t, p, kernel_size=round(t.shape[-1] / 11.6)) + 10 * F.mse_loss(p, t),
        r"round\(resolution / 11.6\) = 3",
    ),
    (
        lab01.check_dfl_loss,
        lambda t, p: dssim(t, p, kernel_size=int(t.shape[-1] / 11.6)) + F.mse_loss(p, t),
        "not weighted",
    ),
    (lab01.check_dfl_loss, lambda t, p: 10 * F.mse_loss(p, t), "MSE term alone"),
    (lab01.check_dfl_loss, lambda t, p: 10 * dssim(t, p, kernel_size=int(t.shape[-1] / 11.6)), "DSSIM term alone"),
    (
        lab01.check_dfl_loss,
        lambda t, p: 10 * ssim(t, p, kernel_size=int(t.shape[-1] / 11.6)) + 10 * F.mse_loss(p, t),
        "SSIM instead of DSSIM",
    ),
    (
        lab01.check_dfl_loss,
        lambda t, p: 10 * (1 - ssim(t, p, kernel_size=int(t.shape[-1] / 11.6))) + 10 * F.mse_loss(p, t),
        "does your dssim divide by 2",
    ),
    (lab01.check_dfl_loss, lambda t, p: dfl_loss(t, p).item(), "no gradient flows back"),
    (lab01.check_dfl_loss, lambda t, p: dfl_loss(t, p.detach()) + 0 * p.sum(), "gradient differs"),
    (lab01.check_gradient_energy, lambda x: gradient_energy(x).mean(), r"shape \(\); expected \(3,\)"),
    (
        lab01.check_gradient_energy,
        lambda x: (
            (x[..., 1:] - x[..., :-1]).abs().flatten(1).mean(1)
            + (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
        ),
        "absolute differences",
    ),
    (
        lab01.check_gradient_energy,
        lambda x: (x[..., 1:] - x[..., :-1]).pow(2).flatten(1).mean(1),
        "only the differences along the width",
    ),
    (
        lab01.check_gradient_energy,
        lambda x: (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1),
        "only the differences along the height",
    ),
    (lab01.check_gradient_energy, lambda x: gradient_energy(x) / 2, "averaged; add them"),
    (
        lab01.check_gradient_energy,
        lambda x: (
            (x[..., 1:] - x[..., :-1]).pow(2).flatten(1).sum(1)
            + (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).sum(1)
        ),
        "sums over the pixels",
    ),
]


@pytest.mark.parametrize(
    ("check", "answer", "message"), MISTAKES, ids=[f"{c.name}-{i}" for i, (c, _, _) in enumerate(MISTAKES)]
)
def test_usual_mistakes_fail_naming_the_mistake(check: Any, answer: Callable[..., Any], message: str) -> None:
    passed, text = _verdict(check, answer)
    assert not passed
    assert re.search(message, text), text


def test_messages_do_not_give_the_solution_away() -> None:
    for check, answer, _ in MISTAKES:
        text = _verdict(check, answer)[1]
        assert "conv2d" not in text and "torch." not in text and "def " not in text


# --- evidence from a tampered kernel fails, never raises --------------------------------------------

TAMPERED = [
    None,
    True,
    "passed",
    {"passed": True},
    [],
    [1.0],
    {"values": [1, 2], "grad": "yes"},
    {"values": None, "grad": None},
    [[1.0] * 3] * 9,
    ["nan"] * 5,
    {"error": "X", "detail": 3},
]


@pytest.mark.parametrize("check", [c for c, _ in REFERENCE], ids=[c.name for c, _ in REFERENCE])
@pytest.mark.parametrize("evidence", TAMPERED, ids=range(len(TAMPERED)))
def test_tampered_evidence_fails_without_raising(check: Any, evidence: Any) -> None:
    feedback = check.judge(evidence)
    assert feedback.passed is False and feedback.message


def test_a_passed_flag_is_not_trusted() -> None:
    """The judge recomputes: right-looking numbers for the wrong cases do not pass."""
    ones = [1.0] * 5
    assert not lab01.check_ssim.judge(ones).passed
    assert not lab01.check_dssim.judge([0.0] * 5).passed
