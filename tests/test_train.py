"""aelab.train and aelab.optim: the config, DeepFaceLab's optimisers, the trainer and its checkpoints.

Tiny models (32 px, a few channels) and a few steps each, so the file runs in seconds.
"""

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from aelab import train
from aelab.optim import AdaBelief, Adam, RMSprop
from aelab.train import Config, Trainer

TINY = dict(
    archi="liae", resolution=32, ae_dims=8, e_dims=4, d_dims=4, d_mask_dims=4, batch_size=2,
    pretrain=False, lr=1e-3,
)


def tiny(**overrides: object) -> Config:
    return Config(**{**TINY, **overrides})


def trainer(config: Config | None = None, **kwargs: object) -> Trainer:
    return Trainer(config or tiny(), device="cpu", pool_size=16, **kwargs)


# -- Config ------------------------------------------------------------------------------------


def test_seed_preset_is_the_model_card() -> None:
    card = dict(
        archi="liae", resolution=128, face_type="f", ae_dims=128, e_dims=80, d_dims=48, d_mask_dims=16,
        masked_training=True, learn_mask=True, eyes_prio=True, gan_power=0.0, random_warp=True,
        random_flip=True, batch_size=8, pretrain=True, clipgrad=False, target_iter=1_000_000,
        ct_mode=None, optimizer="adabelief", lr=5e-5, lr_dropout=False,
    )
    kit = dict(lr_cos=0)  # the kit's one field beyond the card: 0 keeps SAEHD's own lr_cos
    assert Config.preset("seed").to_dict() == card | kit
    assert Config() == Config.preset("seed")


def test_other_presets() -> None:
    cpu, dfl = Config.preset("cpu"), Config.preset("dfl-defaults")
    assert cpu.resolution == 64 and not cpu.pretrain
    assert cpu.lr_cos == round(2 * cpu.target_iter * 17 / 16)  # lr reaches 0 at target_iter (+1 hard-sample step in 16)
    assert (dfl.optimizer, dfl.lr, dfl.batch_size, dfl.lr_cos, dfl.target_iter) == ("rmsprop", 5e-5, 8, 0, 0)
    same = ("archi", "resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "masked_training")
    assert all(getattr(cpu, k) == getattr(dfl, k) for k in same)
    with pytest.raises(ValueError, match="preset name.*'seed'"):
        Config.preset("fast")


def test_config_file_round_trip(tmp_path: Path) -> None:
    config = tiny(ct_mode="hist_match", lr_dropout=0.5, gan_power=0.1)
    config.save(tmp_path / "c.json")
    assert Config.load(tmp_path / "c.json") == config


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"archi": "df", "ae_dim": 64}))
    with pytest.raises(ValueError, match=r"unknown config key 'ae_dim'; valid keys: archi, .*ae_dims"):
        Config.load(tmp_path / "c.json")


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("archi", "vae", ValueError, "archi type 'vae'"),
        ("archi", "liae-x", ValueError, "archi option 'x'"),
        ("resolution", 40, ValueError, "resolution 40"),
        ("resolution", 64.0, TypeError, "resolution must be int"),
        ("face_type", "full", ValueError, "face_type must be one of 'h', 'mf', 'f', 'wf', 'head'"),
        ("ct_mode", "none", ValueError, "ct_mode must be one of None, 'rct'"),
        ("optimizer", "sgd", ValueError, "optimizer must be one of 'adabelief', 'rmsprop'"),
        ("lr", 0.0, ValueError, "lr must be"),
        ("lr", "1e-3", TypeError, "lr must be int or float"),
        ("lr_dropout", 1.5, ValueError, r"lr_dropout must be True/False .* \(0, 1\]"),
        ("ae_dims", 0, ValueError, "ae_dims must be >= 1"),
        ("batch_size", 0, ValueError, "batch_size must be >= 1"),
        ("masked_training", 1, TypeError, "masked_training must be bool"),
        ("batch_size", True, TypeError, "batch_size must be int"),
        ("gan_power", 2.0, ValueError, r"gan_power must be in \[0, 1\]"),
        ("target_iter", -1, ValueError, "target_iter must be >= 0"),
        ("lr_cos", -500, ValueError, "lr_cos must be >= 0"),
        ("lr_cos", 0.5, TypeError, "lr_cos must be int"),
    ],
)
def test_bad_values_name_the_field(field: str, value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        tiny(**{field: value})


def test_lr_dropout_follows_dfl_switch() -> None:
    assert tiny(lr_dropout=True).lr_dropout_keep == 0.3
    assert tiny(lr_dropout=False).lr_dropout_keep == 1.0
    assert tiny(lr_dropout=0.5).lr_dropout_keep == 0.5


@pytest.mark.parametrize(
    ("overrides", "period"),
    [({}, 0), ({"lr_dropout": True}, 500), ({"lr_cos": 64}, 64), ({"lr_cos": 64, "lr_dropout": True}, 64)],
)
def test_lr_cos_is_saehds_unless_set(overrides: dict[str, object], period: int) -> None:
    """0 keeps Model_SAEHD's choice (500 with lr_dropout, else constant); a set period wins."""
    assert trainer(tiny(**overrides)).optimizer.param_groups[0]["lr_cos"] == period


def test_lr_cos_of_twice_the_run_anneals_lr_to_zero_at_its_end() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = Adam([p], lr=1.0, lr_cos=8)
    moves = []
    for _ in range(4):
        p.grad = torch.ones(1)
        before = p.item()
        optimizer.step()
        moves.append(before - p.item())
    # lr factor (cos(2*pi*t/8) + 1) / 2 for t = 1..4: 0.854, 0.5, 0.146, 0; Adam's step on a constant gradient is ~lr.
    assert moves == pytest.approx([0.854, 0.5, 0.146, 0.0], abs=2e-3)


# -- optimisers --------------------------------------------------------------------------------


def _one_param(values: list[float]) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor(values))


def test_adabelief_is_dfl_update_without_bias_correction() -> None:
    p = _one_param([1.0, -2.0])
    opt = AdaBelief([p], lr=0.1)
    grads = [torch.tensor([0.5, -1.0]), torch.tensor([0.3, 0.2])]
    expected, m, v = p.detach().clone(), torch.zeros(2), torch.zeros(2)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * (g - m) ** 2
        expected -= 0.1 * m / (v.sqrt() + 1e-6)
    torch.testing.assert_close(p.detach(), expected)


def test_rmsprop_is_dfl_update() -> None:
    p = _one_param([1.0, -2.0])
    opt = RMSprop([p], lr=0.1)
    g = torch.tensor([0.5, -1.0])
    p.grad = g.clone()
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([1.0, -2.0]) - 0.1 * g / ((0.1 * g**2).sqrt() + 1e-6))


def test_adam_first_step_is_lr_times_sign() -> None:
    p = _one_param([1.0, -2.0])
    opt = Adam([p], lr=0.1)
    p.grad = torch.tensor([0.5, -1e-3])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, -1.9]), atol=1e-3, rtol=0)


@pytest.mark.parametrize("grad_norm", [50.0, 0.5])
def test_clipnorm_bounds_the_global_norm(grad_norm: float) -> None:
    params = [_one_param([0.0] * 3), _one_param([0.0] * 4)]
    opt = RMSprop(params, clipnorm=1.0)
    direction = torch.randn(7)
    grads = (direction / direction.norm() * grad_norm).split([3, 4])
    for p, g in zip(params, grads):
        p.grad = g.clone()
    opt.step()
    seen = torch.cat([(10.0 * opt.state[p]["acc"]).sqrt() for p in params])  # |g| as the optimiser saw it
    assert math.isclose(float(seen.norm()), min(grad_norm, 1.0), rel_tol=1e-4)


def test_lr_dropout_one_is_no_dropout_and_below_one_masks_updates() -> None:
    torch.manual_seed(1)
    grad = torch.randn(10_000)
    results = []
    for keep in (None, 1.0, 0.3):
        p = torch.nn.Parameter(torch.zeros(10_000))
        extra = {} if keep is None else {"lr_dropout": keep}
        opt = AdaBelief([p], lr=0.01, generator=torch.Generator().manual_seed(0), **extra)
        p.grad = grad.clone()
        opt.step()
        results.append(p.detach())
    assert torch.equal(results[0], results[1])
    kept = results[2] != 0
    assert 0.27 < kept.float().mean() < 0.33
    assert torch.equal(results[2][kept], results[0][kept])


def test_optimiser_parameters_are_validated() -> None:
    p = _one_param([1.0])
    with pytest.raises(ValueError, match="lr_dropout must be in"):
        AdaBelief([p], lr_dropout=0.0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        RMSprop([p], lr=-1.0)


# -- trainer -----------------------------------------------------------------------------------


def test_step_returns_the_terms_and_loss_decreases() -> None:
    t = trainer(tiny(random_warp=False))
    first = t.step()
    expected = {f"{side}_{term}" for side in ("src", "dst") for term in ("dssim", "mse", "eyes_mouth", "mask", "total")}
    assert set(first) == expected and all(isinstance(v, float) for v in first.values())
    t.fit(30, progress=False)
    totals = [s + d for s, d in zip(t.history["src_total"], t.history["dst_total"])]
    assert sum(totals[-5:]) < 0.8 * sum(totals[:5])
    assert t.iteration == len(totals) == 31
    scores = t.evaluate(n=8)
    assert set(scores) == {"src", "dst"} and all(-1.0 <= v <= 1.0 for v in scores.values())


def test_fit_stops_at_target_iter_and_preview_is_a_figure() -> None:
    t = trainer(tiny(target_iter=3))
    t.fit(10, progress=False)
    assert t.iteration == 3
    fig = t.preview(n=2)
    assert len(fig.axes) == 2 * 10


def test_end_pretrain_reinitialises_inters_only() -> None:
    t = trainer(tiny(pretrain=True, lr_dropout=True))
    assert t._src_pool is t._dst_pool and t._src_pool.domain == "mixed"
    assert t.optimizer.param_groups[0]["lr_dropout"] == 1.0  # forced off while pretraining
    t.fit(2, progress=False)
    before = {name: {k: v.clone() for k, v in part.state_dict().items()} for name, part in t.model.parts().items()}
    t.end_pretrain()
    for name, part in t.model.parts().items():
        same = all(torch.equal(v, before[name][k]) for k, v in part.state_dict().items())
        assert same == (not name.startswith("inter")), name
    assert (t._src_pool.domain, t._dst_pool.domain) == ("A", "B")
    assert t.iteration == 0 and t.history == {} and not t.config.pretrain
    assert t.optimizer.param_groups[0]["lr_dropout"] == 0.3
    with pytest.raises(ValueError, match="not pretraining"):
        t.end_pretrain()


def test_gan_path_trains_the_discriminator() -> None:
    t = trainer(tiny(gan_power=0.1))
    assert t.discriminator is not None
    before = [p.detach().clone() for p in t.discriminator.parameters()]
    terms = t.step()
    assert {"gan", "discriminator"} <= set(terms)
    assert any(not torch.equal(a, b) for a, b in zip(before, t.discriminator.parameters()))


def test_ct_mode_recolours_src_samples() -> None:
    t = trainer(tiny(ct_mode="rct"))
    assert math.isfinite(t.step()["src_total"])


# -- checkpoints -------------------------------------------------------------------------------


COMMON_FILES = {"src_dst_opt.pt", "trainer_state.pt", "config.json", "history.json", "summary.txt", "manifest.json"}


def test_resume_is_exact(tmp_path: Path) -> None:
    config = tiny(lr_dropout=0.5, clipgrad=True)
    straight = trainer(config)
    straight.fit(18, progress=False)  # crosses the hard-sample step at 16

    first = trainer(config)
    first.fit(9, progress=False)
    folder = first.save(tmp_path / "ckpt")
    parts = {"encoder.pt", "inter_AB.pt", "inter_B.pt", "decoder.pt"}
    assert {p.name for p in folder.iterdir()} == parts | COMMON_FILES
    resumed = Trainer.load(folder, device="cpu")
    resumed.fit(9, progress=False)
    assert resumed.history == straight.history
    for a, b in zip(resumed.model.parameters(), straight.model.parameters()):
        assert torch.equal(a, b)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    t = trainer(tiny(archi="df"))
    t.step()
    folder = t.save(tmp_path / "ckpt")
    parts = {"encoder.pt", "inter.pt", "decoder_src.pt", "decoder_dst.pt"}
    assert {p.name for p in folder.iterdir()} == parts | COMMON_FILES
    return folder


def _rehash(folder: Path, name: str) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_corrupt_file_is_named(saved: Path) -> None:
    data = bytearray((saved / "encoder.pt").read_bytes())
    data[-20] ^= 0xFF
    (saved / "encoder.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"checksum mismatch for .*encoder\.pt"):
        Trainer.load(saved)


def test_missing_file_is_named(saved: Path) -> None:
    (saved / "decoder_dst.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"decoder_dst\.pt is missing"):
        Trainer.load(saved)


def test_foreign_folders_are_refused(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint folder"):
        Trainer.load(tmp_path / "nowhere")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"not an aelab checkpoint: .*manifest\.json is missing"):
        Trainer.load(tmp_path / "other")


def test_folder_of_another_archi_is_refused(saved: Path) -> None:
    tiny(archi="liae").save(saved / "config.json")
    _rehash(saved, "config.json")
    with pytest.raises(ValueError, match=r"config\.json: archi 'liae' does not match the manifest's 'df'"):
        Trainer.load(saved)


def test_loading_never_unpickles_objects(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    Trainer.load(saved)
    assert calls and all(k.get("weights_only") is True for k in calls)

    class Payload:
        def __reduce__(self):  # what a hostile checkpoint would carry
            return (print, ("this must never run",))

    torch.save({"weight": Payload()}, saved / "encoder.pt")
    _rehash(saved, "encoder.pt")
    with pytest.raises(ValueError, match=r"encoder\.pt holds more than tensors"):
        Trainer.load(saved)


def test_trainer_arguments_are_validated() -> None:
    with pytest.raises(TypeError, match="config must be an aelab.train.Config"):
        Trainer({"archi": "df"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pool_size must be"):
        Trainer(tiny(), pool_size=1)
    with pytest.raises(ValueError, match="iterations must be"):
        trainer().fit(-1)
    assert train.EVAL_SEED > 0
