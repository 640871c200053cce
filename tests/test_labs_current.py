"""labs/ is exactly what ``aelab make-labs`` writes from solutions/ (never edited by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aelab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_labs_are_current(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    status = main(["make-labs", "--check"])
    assert status == 0, capsys.readouterr().err
