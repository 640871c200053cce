"""Lab 03's checks (``aelab.checks.lab03``): the references pass, the usual mistakes fail with a message
that names them, tampered evidence fails without raising (unfinished exercises: test_checks_labs.py)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from checks_support import verdict

from aelab import metrics, models
from aelab.checks import CheckFailed, lab03

# ---------------------------------------------------------------- the checks are registered


@pytest.mark.parametrize("name", lab03.__all__)
@pytest.mark.parametrize("evidence", [None, 3, "nan", [], {}, {"src_code": "x"}, {"kind": "image", "image": [[1]]}])
def test_tampered_evidence_fails_without_raising(name: str, evidence: Any) -> None:
    feedback = getattr(lab03, name).judge(evidence)
    assert not feedback.passed


# ---------------------------------------------------------------- 3.1 count_parameters


def test_count_parameters_reference_passes(capsys: pytest.CaptureFixture[str]) -> None:
    lab03.check_count_parameters(models.count_parameters)
    out = capsys.readouterr().out
    assert out.startswith("[PASSED]") and "42,773,412" in out and "32,686,504" in out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad), "skips frozen parameters"),
        (lambda m: sum(t.numel() for t in m.state_dict().values()), "counts a layer that is used twice"),
        (lambda m: sum(p.numel() for _, p in m.named_parameters(remove_duplicate=False)), "used twice"),
        (lambda m: len(list(m.parameters())), "counts parameter tensors, not the numbers"),
        (lambda m: sum(p.numel() for n, p in m.named_parameters() if "bias" not in n), "not the biases"),
        (lambda m: models.count_parameters(m) + 1, "your count is 43; expected 42"),
    ],
)
def test_count_parameters_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab03.check_count_parameters, wrong)
    assert not feedback.passed and message in feedback.message


def test_count_parameters_catches_buffers_where_nothing_is_shared() -> None:
    def with_buffers(module: torch.nn.Module) -> int:
        if isinstance(module, torch.nn.Sequential) and isinstance(module[-1], torch.nn.BatchNorm2d):
            return sum(t.numel() for t in module.state_dict().values())
        return models.count_parameters(module)

    feedback = verdict(lab03.check_count_parameters, with_buffers)
    assert not feedback.passed and "counts the buffers too" in feedback.message


def test_count_parameters_names_the_part_that_is_off() -> None:
    evidence = lab03.check_count_parameters.probe(models.count_parameters)
    evidence["liae"]["inter_B"] += 1
    feedback = lab03.check_count_parameters.judge(evidence)
    assert not feedback.passed and "inter_B is 9716865; expected 9,716,864" in feedback.message


# ---------------------------------------------------------------- 3.2 LIAE wiring


def test_liae_wiring_reference_passes() -> None:
    assert verdict(lab03.check_liae_wiring, models.liae_codes).passed
    as_tuple = verdict(lab03.check_liae_wiring, lambda *a: tuple(models.liae_codes(*a)))
    assert as_tuple.passed


def _wiring(src: str, dst: str, swap: str, dim: int = 1) -> Any:
    """A wiring function whose codes are the named halves, e.g. "ab_s ab_s"."""

    def wire(encoder: Any, inter_ab: Any, inter_b: Any, src_images: torch.Tensor, dst_images: torch.Tensor) -> Any:
        parts = {
            "ab_s": inter_ab(encoder(src_images)),
            "b_s": inter_b(encoder(src_images)),
            "ab_d": inter_ab(encoder(dst_images)),
            "b_d": inter_b(encoder(dst_images)),
        }
        return tuple(torch.cat([parts[k] for k in code.split()], dim=dim) for code in (src, dst, swap))

    return wire


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (_wiring("ab_s ab_s", "ab_d b_d", "ab_d ab_d"), "dst code has the right two codes in the wrong order"),
        (_wiring("ab_s ab_s", "b_d ab_d", "b_d ab_d"), "swap code (src_dst) is [inter_B(E(dst)), inter_AB(E(dst))]"),
        (_wiring("b_s ab_s", "b_d ab_d", "ab_d ab_d"), "src code is [inter_B(E(src)), inter_AB(E(src))]"),
        (_wiring("ab_s ab_s", "b_d ab_d", "ab_d ab_d", dim=0), "concatenated on the batch axis"),
        (_wiring("ab_s", "b_d ab_d", "ab_d ab_d"), "that is one inter's code"),
    ],
)
def test_liae_wiring_mistakes_are_named(wire: Any, message: str) -> None:
    feedback = verdict(lab03.check_liae_wiring, wire)
    assert not feedback.passed and message in feedback.message


def test_liae_wiring_encodes_each_batch_once() -> None:
    right = _wiring("ab_s ab_s", "b_d ab_d", "ab_d ab_d")  # the right codes, the encoder run 4 times
    feedback = verdict(lab03.check_liae_wiring, right)
    assert not feedback.passed and "calls the encoder 4 times" in feedback.message
    assert "encode each batch once" in feedback.message


def test_liae_wiring_refuses_other_return_types() -> None:
    feedback = verdict(lab03.check_liae_wiring, lambda *a: models.liae_codes(*a).dst_code)
    assert not feedback.passed and "SAEHDCodes" in feedback.message


# ---------------------------------------------------------------- 3.3 DF's swap


def test_df_swap_reference_passes() -> None:
    assert verdict(lab03.check_df_swap, lambda model, dst: model.swap(dst).pred_src_dst).passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda m, d: m.decoder_dst(m.inter(m.encoder(d)))[0], "dst's reconstruction"),
        (lambda m, d: m.decoder_src(m.inter(m.encoder(d))), "sequence of 2 items"),
        (lambda m, d: m.decoder_src(m.inter(m.encoder(d)))[0] * 0.5, "differs from DF's by up to"),
        (lambda m, d: m.decoder_src(m.inter(m.encoder(d)))[1], "has shape (2, 1, 16, 16)"),
    ],
)
def test_df_swap_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab03.check_df_swap, wrong)
    assert not feedback.passed and message in feedback.message


# ---------------------------------------------------------------- 3.4 identity leak


def test_identity_leak_reference_passes() -> None:
    assert verdict(lab03.check_identity_leak, metrics.identity_leak).passed
    as_tensors = verdict(
        lab03.check_identity_leak, lambda s, t, d: {k: (s[k] - t[k]).mean() / (d[k] - t[k]).mean() for k in s}
    )
    assert as_tensors.passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda s, t, d: {k: ((s[k] - t[k]) / (d[k] - t[k])).mean() for k in s}, "mean of per-image ratios"),
        (lambda s, t, d: {k: (s[k] - d[k]).mean() / (t[k] - d[k]).mean() for k in s}, "reversed"),
        (lambda s, t, d: {k: s[k].mean() / d[k].mean() for k in s}, "without subtracting"),
        (lambda s, t, d: {k: 0.5 for k in s}, "of the way from the true swaps to dst"),
        (lambda s, t, d: {k: (s[k] - t[k]) / (d[k] - t[k]) for k in s}, "list of 6 values"),
        (lambda s, t, d: {"face_width": 0.2}, "expected keys"),
    ],
)
def test_identity_leak_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab03.check_identity_leak, wrong)
    assert not feedback.passed and message in feedback.message


def test_a_failed_check_raises_check_failed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CheckFailed, match=r"^\[NOT YET\] check_identity_leak:"):
        lab03.check_identity_leak.require(lambda s, t, d: {k: 0.5 for k in s})
    assert capsys.readouterr().out == ""  # the message shows once, carried by the exception
