"""The shared foundation: the validation engine, portable figures and shipped assets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from aelab import assets, report, validate

ROOT = Path(__file__).resolve().parents[1]


# --- aelab.validate: TypeError for the wrong kind, ValueError for the wrong value --------------------


@pytest.mark.parametrize("bad", [True, 2.0, "3", None])
def test_check_int_rejects_other_kinds_with_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="n must be an int"):
        validate.check_int("n", bad)


def test_check_int_range_and_numpy() -> None:
    assert validate.check_int("n", np.int64(4), minimum=1) == 4
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 3\], got 5"):
        validate.check_int("n", 5, minimum=1, maximum=3)


def test_check_float_bounds_and_kinds() -> None:
    assert validate.check_float("lr", 1, minimum=0, min_inclusive=False) == 1.0
    with pytest.raises(TypeError):
        validate.check_float("lr", False)
    with pytest.raises(ValueError, match=r"in \(0.0, inf\)"):
        validate.check_float("lr", 0.0, minimum=0.0, min_inclusive=False)
    with pytest.raises(ValueError, match="finite"):
        validate.check_float("lr", float("nan"))


def test_check_choice_lists_the_choices() -> None:
    assert validate.check_choice("mode", "rct", ("rct", "lct")) == "rct"
    with pytest.raises(ValueError, match="expected one of 'rct', 'lct'"):
        validate.check_choice("mode", "xyz", ("rct", "lct"))
    with pytest.raises(TypeError):
        validate.check_choice("mode", 3, ("rct", "lct"))


def test_check_generator_accepts_only_generators() -> None:
    g = torch.Generator().manual_seed(0)
    assert validate.check_generator("generator", g) is g
    with pytest.raises(TypeError, match="manual_seed"):
        validate.check_generator("generator", 0)


def test_check_images_shapes_dtypes_and_range() -> None:
    x = torch.rand(2, 3, 8, 8)
    assert validate.check_images("x", x, channels=3, resolution=8, in_unit_range=True) is x
    with pytest.raises(TypeError):
        validate.check_images("x", x.numpy())
    with pytest.raises(ValueError, match=r"x\[None\]"):
        validate.check_images("x", x[0])
    with pytest.raises(ValueError, match="floats"):
        validate.check_images("x", (x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="1 or 3 channel"):
        validate.check_images("x", torch.rand(2, 2, 8, 8), channels=(1, 3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        validate.check_images("x", x + 1, in_unit_range=True)
    with pytest.raises(ValueError, match="one \\(N, 1, H, W\\) mask per image"):
        validate.check_mask("m", torch.rand(3, 1, 8, 8), like=x)


def test_check_int_multiple_of_and_square_images() -> None:
    assert validate.check_int("resolution", 48, minimum=16, multiple_of=16) == 48
    with pytest.raises(ValueError, match=r"resolution must be a multiple of 16 \(16, 32, 48, ...\), got 40"):
        validate.check_int("resolution", 40, minimum=16, multiple_of=16)
    with pytest.raises(ValueError, match="square images"):
        validate.check_images("x", torch.rand(2, 3, 8, 6), square=True)


def test_check_range_instance_and_strings() -> None:
    assert validate.check_range("scale_range", (-0.1, 0.2)) == (-0.1, 0.2)
    with pytest.raises(ValueError, match="low <= high.*swap them"):
        validate.check_range("scale_range", (0.2, -0.1))
    with pytest.raises(TypeError, match=r"scale_range must be a pair \(low, high\)"):
        validate.check_range("scale_range", 0.1)
    g = torch.Generator()
    assert validate.check_instance("g", g, torch.Generator) is g
    with pytest.raises(TypeError, match=r"batch must be a Generator \(from torch.Generator\), got int"):
        validate.check_instance("batch", 3, torch.Generator, made_by="torch.Generator")
    assert validate.check_strings("titles", ("a", 1), count=2, per="image") == ["a", "1"]
    with pytest.raises(ValueError, match="one string per row: expected 3, got 2"):
        validate.check_strings("row_labels", ["a", "b"], count=3, per="row")
    with pytest.raises(TypeError, match="sequence of strings"):
        validate.check_strings("titles", "ab", count=2, per="image")


def test_check_columns_and_binary_labels() -> None:
    columns = {"a": torch.zeros(3), "b": torch.ones(3), "extra": torch.zeros(5)}
    assert validate.check_columns("factors", columns, ("a", "b"), fix="see sample_factors") == 3
    with pytest.raises(ValueError, match=r"factors lack \['c'\]; see sample_factors"):
        validate.check_columns("factors", columns, ("a", "c"), fix="see sample_factors")
    with pytest.raises(ValueError, match="one length N"):
        validate.check_columns("factors", columns, ("a", "extra"), fix="")
    labels = validate.check_binary_labels("labels", [0, 1, 1], count=3)
    assert labels.dtype == torch.float32 and labels.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"one label per image \(2\), got 3"):
        validate.check_binary_labels("labels", [0, 1, 1], count=2)
    with pytest.raises(ValueError, match=r"0 \(real\) or 1 \(generated\)"):
        validate.check_binary_labels("labels", torch.tensor([0, 2]), count=2)


# --- aelab.report: measured digits masked, verdicts compared ----------------------------------------


def _sanitize(text: str) -> str:
    """Apply solutions/sanitize.cfg as nbval does (its own regex reader over the file's text)."""
    rules = re.findall(
        r"^regex: (.*)$\n^replace: (.*)$", (ROOT / "solutions" / "sanitize.cfg").read_text("utf-8"), re.M
    )
    assert any("MEASURED" in replace for _, replace in rules)
    for regex, replace in rules:
        text = re.sub(regex, replace, text)
    return text


def test_figure_prints_value_band_and_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert report.figure("SSIM", 0.79481, (0.76, 0.83)) == pytest.approx(0.79481)
    line = capsys.readouterr().out.strip()
    assert line == "SSIM ≈ 0.795  (expected 0.760 – 0.830: ok)"


def test_two_machines_print_the_same_after_sanitizing(capsys: pytest.CaptureFixture[str]) -> None:
    report.figures({"SSIM": (0.7948, (0.7, 0.9)), "PSNR": (21.83, (20, 24))}, digits=2, unit="")
    first = capsys.readouterr().out
    report.figures({"SSIM": (0.7950, (0.7, 0.9)), "PSNR": (21.79, (20, 24))}, digits=2, unit="")
    second = capsys.readouterr().out
    assert first != second
    assert _sanitize(first) == _sanitize(second)
    assert "ok" in _sanitize(first) and "MEASURED" in _sanitize(first)


def test_out_of_band_names_figure_value_and_band(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(report.FigureOutOfBand, match=r"PSNR = 12.5 is outside its band \[20.0, 24.0\]"):
        report.figures({"SSIM": (0.8, (0.7, 0.9)), "PSNR": (12.5, (20, 24))})
    out = capsys.readouterr().out
    assert "SSIM" in out and "OUT OF BAND" in out
    with pytest.raises(report.FigureOutOfBand):
        report.figure("loss", float("nan"), (0, 1))


def test_figure_rejects_malformed_bands() -> None:
    with pytest.raises(ValueError, match="empty"):
        report.figure("x", 1.0, (2, 1))
    with pytest.raises(TypeError, match=r"\(value, \(lo, hi\)\)"):
        report.figures({"x": 1.0})  # type: ignore[dict-item]


def test_measured_is_masked() -> None:
    assert _sanitize(f"took {report.measured(1234.5678, 1)}") == "took MEASURED"
    assert _sanitize(report.measured(3e-9)) == "MEASURED"


def test_measured_columns_stay_aligned_whatever_the_digits() -> None:
    rows = [
        f"R² {report.measured(v, 2, width=6)}{report.measured(w, 2, width=6)}  tie"
        for v, w in ((-0.01, 13.7), (0.0, 9.81))
    ]
    assert len(rows[0]) == len(rows[1]) and rows[0] != rows[1]
    assert _sanitize(rows[0]) == _sanitize(rows[1]) == "R² MEASUREDMEASURED  tie"


def test_table_masks_every_cell_and_names_the_figures_out_of_band(capsys: pytest.CaptureFixture[str]) -> None:
    def rows(psnr: float, ssim: float) -> dict:
        return {
            "MSE": {"PSNR dB": (psnr, (9, 24)), "SSIM": (ssim, (-0.1, 0.9))},
            "L1": {"PSNR dB": (21.0, (9, 24)), "SSIM": (0.7, (0.6, 0.8))},
        }

    digits = {"PSNR dB": 1, "SSIM": 2}
    assert report.table(rows(22.31, 0.79), digits=digits, label="loss")["MSE"]["SSIM"] == 0.79
    first = capsys.readouterr().out
    report.table(rows(9.87, -0.01), digits=digits, label="loss")
    second = capsys.readouterr().out
    assert first != second and _sanitize(first) == _sanitize(second)
    assert [line.split()[-1] for line in first.splitlines()[1:]] == ["ok", "ok"]
    with pytest.raises(report.FigureOutOfBand, match=r"MSE SSIM = 0.95 is outside its band \[-0.1, 0.9\]"):
        report.table(rows(22.31, 0.95), digits=digits)
    assert capsys.readouterr().out.splitlines()[1].endswith("OUT OF BAND: SSIM")
    with pytest.raises(TypeError, match="columns"):
        report.table({"MSE": {"SSIM": (0.7, (0, 1))}, "L1": {"PSNR": (20.0, (0, 30))}})


def test_table_shows_unbanded_cells_without_checking_them(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {
        "DF": {"SSIM": (0.74, (0.7, 0.8)), "ms/step": (71.0, None)},
        "yours": {"SSIM": (0.2, None), "ms/step": (5.0, None)},
    }
    assert report.table(rows, digits={"SSIM": 2, "ms/step": 0})["yours"]["SSIM"] == 0.2
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:]] == ["ok", "shown"]
    with pytest.raises(report.FigureOutOfBand, match="DF SSIM = 0.9"):
        report.table({"DF": {"SSIM": (0.9, (0.7, 0.8)), "ms/step": (1e9, None)}})


def test_repeats_is_the_mean_relative_step_difference(capsys: pytest.CaptureFixture[str]) -> None:
    assert report.repeats("loss", [1.0, 2.0, 4.0], [1.0, 2.0, 4.0], (0, 0.01)) == 0.0
    assert report.repeats("loss", [1.0, 2.6, 4.0], [1.0, 2.0, 4.0], (0, 0.2)) == pytest.approx(0.1)
    assert capsys.readouterr().out.splitlines()[-1] == "loss ≈ 0.100  (expected 0.000 – 0.200: ok)"
    with pytest.raises(report.FigureOutOfBand, match="loss"):
        report.repeats("loss", [1.0, 3.0], [1.0, 2.0], (0, 0.2))
    with pytest.raises(ValueError, match="same non-zero length"):
        report.repeats("loss", [1.0], [1.0, 2.0], (0, 0.2))


# --- aelab.assets --------------------------------------------------------------------------------


def test_assets_resolve_verify_against_the_manifest_and_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "labXX").mkdir()
    file = tmp_path / "labXX" / "w.json"
    file.write_text('{"w": 1}')
    manifest = tmp_path / "manifest.json"
    entry = {
        "sha256": assets.sha256(file),
        "size": file.stat().st_size,
        "command": "python -m aelab.assets.make_labXX w",
    }
    manifest.write_text(json.dumps({"labXX/w.json": entry}))
    monkeypatch.setattr(assets, "MANIFEST", manifest)
    monkeypatch.setenv(assets.ENV, str(tmp_path))
    assert assets.verified("labXX/w.json") == file and assets.load("labXX/w.json") == {"w": 1}
    file.write_text('{"w": 2}')  # the same size, another digest
    with pytest.raises(assets.AssetError) as error:
        assets.verified("labXX/w.json")
    assert entry["sha256"] in str(error.value) and assets.sha256(file) in str(error.value)
    assert "python -m aelab.assets.make_labXX w" in str(error.value) and "w.json" in str(error.value)
    with pytest.raises(assets.AssetError, match="not in the manifest"):
        assets.verified("labXX/other.pt")
    with pytest.raises(assets.AssetError, match="not found"):
        assets.path("labXX/missing.pt")
    with pytest.raises(ValueError):
        assets.path("../etc/passwd")


def test_save_writes_prints_and_records_in_the_manifest_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    monkeypatch.setattr(assets, "MANIFEST", manifest)
    monkeypatch.setenv(assets.ENV, str(tmp_path))
    path = assets.save("labXX/w.pt", {"w": torch.ones(2)}, command="python -m aelab.assets.make_labXX")
    digest = assets.sha256(path)
    assert capsys.readouterr().out.startswith(f"{digest}  labXX/w.pt  {path.stat().st_size} bytes  (not as in")
    assert assets.manifest() == {}
    assets.save("labXX/w.pt", {"w": torch.ones(2)}, command="python -m aelab.assets.make_labXX", write_manifest=True)
    assert assets.manifest()["labXX/w.pt"] == {
        "sha256": digest,
        "size": path.stat().st_size,
        "command": "python -m aelab.assets.make_labXX",
    }
    assert assets.load("labXX/w.pt")["w"].tolist() == [1.0, 1.0]
    capsys.readouterr()
    assets.save("labXX/w.pt", {"w": torch.ones(2)}, command="python -m aelab.assets.make_labXX")
    assert capsys.readouterr().out.endswith("(as in the manifest)\n")
    assets.save("labXX/t.json", "{}\n", command="python -m aelab.assets.make_labXX")
    assert (tmp_path / "labXX" / "t.json").read_text() == "{}\n" and sorted(assets.manifest()) == ["labXX/w.pt"]


def test_asset_command_lines() -> None:
    args = assets.arguments("labXX", [], ("df", "liae"), workers=2)
    assert args.targets == ["df", "liae"] and args.workers == 2 and not args.write_manifest
    args = assets.arguments("labXX", ["liae", "--write-manifest", "--workers", "3"], ("df", "liae"), workers=2)
    assert args.targets == ["liae"] and args.workers == 3 and args.write_manifest
    with pytest.raises(SystemExit) as exit_:
        assets.arguments("labXX", ["reader"], ("df", "liae"))
    assert exit_.value.code == 2


def test_the_manifest_lists_exactly_the_shipped_files() -> None:
    """Every file in aelab/assets/lab*/ but the READMEs is in the manifest with its size and SHA-256,
    made by its lab's command, and the manifest lists nothing else."""
    folder = Path(assets.__file__).parent
    shipped = {f.relative_to(folder).as_posix(): f for f in folder.glob("lab*/*") if f.name != "README.md"}
    manifest = assets.manifest()
    assert sorted(manifest) == sorted(shipped)
    for name, file in shipped.items():
        assert manifest[name]["size"] == file.stat().st_size, name
        assert manifest[name]["sha256"] == assets.sha256(file), name
        assert manifest[name]["command"].startswith(f"python -m aelab.assets.make_{name.split('/')[0]}"), name


#: The only SHA-256 literals outside the manifest: the published digests of the digit data sets that
#: aelab.data.digits downloads and checks (the data layer reads no course file).
_DOWNLOADED = ("src/aelab/data/digits.py",)


def test_no_sha256_literal_outside_the_manifest() -> None:
    hexes = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
    found = []
    for folder in ("src", "solutions", "tests"):
        for file in sorted((ROOT / folder).rglob("*")):
            relative = file.relative_to(ROOT).as_posix()
            if (
                file.suffix in (".py", ".ipynb", ".md", ".json")
                and file != assets.MANIFEST
                and relative not in _DOWNLOADED
            ):
                found += [f"{relative}: {match}" for match in hexes.findall(file.read_text(encoding="utf-8"))]
    assert not found, found
