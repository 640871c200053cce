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
    archi="liae",
    resolution=32,
    ae_dims=8,
    e_dims=4,
    d_dims=4,
    d_mask_dims=4,
    batch_size=2,
    pretrain=False,
    lr=1e-3,
)


def tiny(**overrides: object) -> Config:
    return Config(**{**TINY, **overrides})


def trainer(config: Config | None = None, **kwargs: object) -> Trainer:
    return Trainer(config or tiny(), device="cpu", pool_size=16, **kwargs)


# -- Config ------------------------------------------------------------------------------------


def test_seed_preset_is_the_model_card() -> None:
    card = dict(
        archi="liae",
        resolution=128,
        face_type="f",
        ae_dims=128,
        e_dims=80,
        d_dims=48,
        d_mask_dims=16,
        masked_training=True,
        learn_mask=True,
        eyes_mouth_prio=True,
        gan_power=0.0,
        random_warp=True,
        batch_size=8,
        pretrain=True,
        clipgrad=False,
        target_iter=1_000_000,
        write_preview_history=False,
        ct_mode=None,
        optimizer="adabelief",
        lr=5e-5,
        lr_dropout=False,
    )
    # DeepFaceLab's defaults (Model_SAEHD / ModelBase at 46fc239) for what the card does not set; the
    # card's random_flip is the pre-2021 option the pinned version no longer reads.
    dfl = dict(
        uniform_yaw=False,
        blur_out_mask=False,
        gan_patch_size=None,
        gan_dims=16,
        true_face_power=0.0,
        face_style_power=0.0,
        bg_style_power=0.0,
        random_hsv_power=0.0,
        random_src_flip=False,
        random_dst_flip=True,
        models_opt_on_gpu=True,
        autobackup_hour=0,
    )
    kit = dict(lr_cos=0)  # the kit's one field beyond DFL's options: 0 keeps SAEHD's own lr_cos
    assert Config.preset("seed").to_dict() == card | dfl | kit
    assert Config() == Config.preset("seed")


def test_other_presets() -> None:
    cpu, dfl = Config.preset("cpu"), Config.preset("dfl-defaults")
    assert cpu.resolution == 64 and not cpu.pretrain
    assert cpu.lr_cos == 2 * cpu.target_iter  # lr reaches 0 at target_iter (one optimiser step per iteration)
    # DeepFaceLab's defaults: adabelief on, lr 5e-5, random warp on, src flips off, dst flips on, no priority
    assert (dfl.optimizer, dfl.lr, dfl.batch_size, dfl.lr_cos, dfl.target_iter) == ("adabelief", 5e-5, 8, 0, 0)
    assert (dfl.random_warp, dfl.random_src_flip, dfl.random_dst_flip, dfl.eyes_mouth_prio) == (
        True,
        False,
        True,
        False,
    )
    assert dfl.uniform_yaw is dfl.blur_out_mask is False and dfl.random_hsv_power == dfl.gan_power == 0.0
    same = ("archi", "resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "masked_training")
    assert all(getattr(cpu, k) == getattr(dfl, k) for k in same)
    with pytest.raises(ValueError, match="preset name.*'seed'"):
        Config.preset("fast")


def test_config_file_round_trip(tmp_path: Path) -> None:
    config = tiny(ct_mode="hist_match", lr_dropout=0.5, gan_power=4.0, gan_patch_size=5, uniform_yaw=True)
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
        ("resolution", 64.0, TypeError, "resolution must be an int"),
        ("face_type", "full", ValueError, "unknown face_type 'full'; expected one of 'h', 'mf', 'f', 'wf', 'head'"),
        ("ct_mode", "none", ValueError, r"unknown ct_mode \(None for no transfer\) 'none'; expected one of 'rct'"),
        ("optimizer", "sgd", ValueError, "unknown optimizer 'sgd'; expected one of 'adabelief', 'rmsprop'"),
        ("lr", 0.0, ValueError, "lr must be"),
        ("lr", "1e-3", TypeError, "lr must be a number"),
        ("lr_dropout", 1.5, ValueError, r"lr_dropout \(DFL's switch True/False, .*\(0.0, 1.0\]"),
        ("ae_dims", 0, ValueError, "ae_dims must be an int >= 1"),
        ("batch_size", 0, ValueError, "batch_size must be an int >= 1"),
        ("masked_training", 1, TypeError, "masked_training must be True or False"),
        ("batch_size", True, TypeError, "batch_size must be an int"),
        ("gan_power", 5.5, ValueError, r"gan_power must be a finite number in \[0.0, 5.0\]"),
        ("true_face_power", 0.1, ValueError, "true_face_power is a DF option"),
        ("random_hsv_power", 0.4, ValueError, r"random_hsv_power must be a finite number in \[0.0, 0.3\]"),
        ("face_style_power", 101.0, ValueError, r"face_style_power must be a finite number in \[0.0, 100.0\]"),
        ("gan_patch_size", 0, ValueError, "gan_patch_size must be an int >= 1"),
        ("autobackup_hour", 25, ValueError, r"autobackup_hour must be an int in \[0, 24\]"),
        ("target_iter", -1, ValueError, "target_iter must be an int >= 0"),
        ("lr_cos", -500, ValueError, "lr_cos must be an int >= 0"),
        ("lr_cos", 0.5, TypeError, "lr_cos must be an int"),
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
    with pytest.raises(ValueError, match=r"lr_dropout \(1.0: no dropout\) must be a finite number in \(0.0, 1.0\]"):
        AdaBelief([p], lr_dropout=0.0)
    with pytest.raises(ValueError, match=r"lr must be a number > 0.0"):
        RMSprop([p], lr=-1.0)
    with pytest.raises(TypeError, match="lr_cos .* must be an int"):
        Adam([p], lr_cos=0.5)
    with pytest.raises(ValueError, match=r"rho must be a finite number in \[0.0, 1.0\)"):
        RMSprop([p], rho=1.0)


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


def test_use_faces_trains_on_the_faces_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from aelab.data import faces

    t = trainer(tiny(ct_mode="rct"))
    src = faces.render(4, resolution=32, domain="A", seed=5)
    dst = faces.render(6, resolution=32, domain="B", seed=5)
    t.use_faces(src, dst)
    drawn = []

    def process(pool: faces.FaceBatch, index: torch.Tensor, **options: object) -> train.samples.Samples:
        drawn.append(pool)
        return train.samples.process(pool, index, **options)

    monkeypatch.setattr("aelab.train.trainer.process", process)
    t.step()
    assert [len(pool) for pool in drawn] == [4, 6]
    assert torch.equal(drawn[0].images, src.images) and torch.equal(drawn[1].images, dst.images)
    with pytest.raises(ValueError, match="at least batch_size"):
        t.use_faces(src[:1], dst)
    with pytest.raises(ValueError, match="resolution 32"):
        t.use_faces(faces.render(4, resolution=16, domain="A"), dst)
    with pytest.raises(TypeError, match="FaceBatch"):
        t.use_faces(src.images, dst)  # type: ignore[arg-type]


# -- checkpoints -------------------------------------------------------------------------------


COMMON_FILES = {"src_dst_opt.pt", "trainer_state.pt", "config.json", "history.json", "summary.txt", "manifest.json"}


def test_resume_is_exact(tmp_path: Path) -> None:
    config = tiny(lr_dropout=0.5, clipgrad=True)
    straight = trainer(config)
    straight.fit(18, progress=False)  # crosses an epoch of the 16-face pool (batch 2: 8 steps)

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
    with pytest.raises(ValueError, match="pool_size .* must be"):
        Trainer(tiny(), pool_size=1)
    with pytest.raises(ValueError, match="iterations must be"):
        trainer().fit(-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        Trainer(tiny(), seed=1.0)  # type: ignore[arg-type]
    assert train.EVAL_SEED > 0


# -- DeepFaceLab's recipe, item by item (Model_SAEHD at the pinned commit 46fc239) ----------------


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> list[bool]:
    return [not torch.equal(v, before[k]) for k, v in module.state_dict().items()]


@pytest.mark.parametrize(
    ("overrides", "frozen"),
    [
        ({"random_warp": False}, True),
        ({"random_warp": True}, False),
        ({"random_warp": True, "pretrain": True}, True),
        ({"archi": "df", "random_warp": False}, False),
    ],
)
def test_liae_trains_inter_ab_only_with_random_warp(overrides: dict[str, object], frozen: bool) -> None:
    """src_dst_trainable_weights: without random warp (and so while pretraining) LIAE's optimiser gets
    encoder + inter_B + decoder; inter_AB keeps every weight. DF trains all its parts."""
    t = trainer(tiny(**overrides))
    before = {name: _snapshot(part) for name, part in t.model.parts().items()}
    t.step()
    for name, part in t.model.parts().items():
        changed = _changed(part, before[name])
        if name == "inter_AB" and frozen:
            assert not any(changed), name
        else:
            assert all(changed), name
    if "archi" not in overrides:
        assert ("inter_AB" not in t.trainable_parts()) == frozen


def test_flips_follow_dfl_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """random_src_flip off and random_dst_flip on by default; both on while pretraining (Model_SAEHD)."""
    from aelab import augment

    seen = []
    real = augment.gen_warp_params
    monkeypatch.setattr(augment, "gen_warp_params", lambda *a, **k: seen.append(k["flip"]) or real(*a, **k))
    for config, expected in (
        (tiny(), [False, True]),
        (tiny(random_src_flip=True, random_dst_flip=False), [True, False]),
        (tiny(pretrain=True, random_dst_flip=False), [True, True]),
    ):
        seen.clear()
        trainer(config).step()
        assert seen == expected


def test_index_host_draws_every_sample_once_per_epoch() -> None:
    """core/mplib IndexHost: a shuffled epoch of all indexes, used up (across batches) before the next."""
    from aelab.train.samples import IndexHost

    host = IndexHost(10, torch.Generator().manual_seed(0))
    drawn = torch.cat([host.multi_get(3) for _ in range(10)])  # 30 = three epochs, batches straddle them
    for epoch in drawn.split(10):
        assert sorted(epoch.tolist()) == list(range(10))
    assert not torch.equal(drawn[:10], drawn[10:20])  # each epoch reshuffled


def test_trainer_sees_each_face_once_per_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    from aelab.train import samples

    drawn = []
    real = samples.process
    monkeypatch.setattr(
        "aelab.train.trainer.process", lambda pool, index, **k: drawn.append(index) or real(pool, index, **k)
    )
    t = trainer()  # pool 16, batch 2: an epoch is 8 steps
    t.fit(8, progress=False)
    src = torch.cat(drawn[0::2])
    assert sorted(src.tolist()) == list(range(16))


def test_uniform_yaw_draws_yaw_bins_evenly() -> None:
    """SampleGeneratorFace's uniform_yaw_distribution: 128 yaw bins over ±1.2 rad, Index2DHost draws
    each non-empty bin once per round, whatever its size."""
    from aelab.train.samples import Index2DHost, yaw_bins

    yaw = torch.tensor([-30.0] * 9 + [0.0] + [30.0] * 2)  # crowded, single and small bins
    bins = yaw_bins(yaw)
    assert [b.tolist() for b in bins] == [list(range(10, 12)), [9], list(range(9))]  # -yaw: +30° sorts first
    host = Index2DHost(bins, torch.Generator().manual_seed(0))
    drawn = host.multi_get(30)
    counts = [int((yaw[drawn] == value).sum()) for value in (-30.0, 0.0, 30.0)]
    assert counts == [10, 10, 10]
    assert isinstance(trainer(tiny(uniform_yaw=True))._hosts["src"], Index2DHost)
    assert isinstance(trainer(tiny(pretrain=True))._hosts["src"], Index2DHost)  # forced while pretraining


def test_eyes_mouth_mask_is_renormalised_after_the_transform() -> None:
    """SampleProcessor: the EYES_MOUTH mask is divided by its max after warping ("normalize to 1.0")."""
    from aelab.train.samples import face_pool, process

    pool = face_pool("A", 32, 16, 0)
    pool = type(pool)(pool.images, pool.face_mask, pool.eyes_mouth_mask * 0.5, pool.factors, pool.domain)
    out = process(pool, torch.arange(8), generator=torch.Generator().manual_seed(0), random_warp=True, random_flip=True)
    assert torch.allclose(out.em_mask.amax(dim=(1, 2, 3)), torch.ones(8))
    assert out.mask.amax() <= 1.0 and out.warped.shape == out.target.shape == (8, 3, 32, 32)


def test_each_iteration_is_one_update_without_hard_sample_replay() -> None:
    """DFL removed its every-16-iterations replay of the hardest samples in September 2021 (9e0079c):
    at the pinned version an iteration is exactly one optimiser step."""
    t = trainer()
    t.fit(17, progress=False)
    assert t.optimizer.param_groups[0]["iterations"] == 17


def test_update_follows_the_gradient_of_the_batch_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    """tf.gradients of DFL's per-sample loss vector is the gradient of its sum over the batch."""
    import copy

    from aelab.train import terms

    t = trainer(tiny(batch_size=4, clipgrad=False))
    model_before = copy.deepcopy(t.model)
    drawn, grads = [], {}
    real_samples, real_step = t._samples, t.optimizer.step
    monkeypatch.setattr(t, "_samples", lambda side: drawn.append(real_samples(side)) or drawn[-1])

    def capture(*args: object, **kwargs: object) -> None:
        grads.update({name: p.grad.clone() for name, p in t.model.named_parameters() if p.grad is not None})
        real_step()

    monkeypatch.setattr(t.optimizer, "step", capture)
    t.step()
    src, dst = drawn
    codes = model_before.codes(src.warped, dst.warped)
    (ps, psm), (pd, pdm) = model_before.decode_sides(codes)
    per_sample = terms.side_loss(t.config, src, ps, psm)["total"] + terms.side_loss(t.config, dst, pd, pdm)["total"]
    per_sample.sum().backward()
    expected = {name: p.grad for name, p in model_before.named_parameters() if p.grad is not None}
    assert grads.keys() == expected.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-4, atol=1e-6)


def test_blur_out_mask_blurs_only_the_background() -> None:
    """Model_SAEHD's blur_out_mask: the face is kept; outside, a blur of the background alone,
    renormalised by 1 - blur(mask), so a uniform background stays uniform (no face colour bleeds)."""
    from aelab.train.samples import blur_out_mask

    mask = torch.zeros(1, 1, 48, 48)
    mask[..., 16:32, 16:32] = 1.0
    images = torch.full((1, 3, 48, 48), 0.3)
    images[..., 16:32, 16:32] = 0.9
    out = blur_out_mask(images, mask, 256)  # sigma 2: a 9-tap kernel, zero padding at the image border
    assert torch.equal(out[..., 16:32, 16:32], images[..., 16:32, 16:32])
    # the band just above the face, away from the image border: the face's 0.9 does not bleed into it
    torch.testing.assert_close(out[..., 10:16, 10:38], torch.full((1, 3, 6, 28), 0.3))


def test_style_loss_is_dfl_moments_distance() -> None:
    from aelab import losses

    a, b = torch.full((2, 3, 8, 8), 0.2), torch.full((2, 3, 8, 8), 0.5)
    torch.testing.assert_close(losses.style_loss(a, b, weight=4.0), torch.full((2,), 4.0 * 0.3**2))
    assert float(losses.style_loss(a, a).abs().max()) == 0.0


def test_style_powers_add_to_the_src_loss() -> None:
    t = trainer(tiny(face_style_power=10.0, bg_style_power=10.0))
    terms = t.step()
    assert terms["src_face_style"] > 0 and terms["src_bg_style"] > 0
    parts = sum(terms[f"src_{k}"] for k in ("dssim", "mse", "eyes_mouth", "mask", "face_style", "bg_style"))
    assert terms["src_total"] == pytest.approx(parts, rel=1e-5)
    assert "src_face_style" not in trainer(tiny(face_style_power=10.0, pretrain=True)).step()  # off while pretraining


def test_true_face_power_trains_dfl_code_discriminator() -> None:
    """DF's true_face_power: CodeDiscriminator(ae_dims, code_res) with 1 + code_res // 8 stride-2
    convolutions of 256·min(2^i, 8) channels, trained to tell dst's codes from src's."""
    from aelab.models import CodeDiscriminator

    t = trainer(tiny(archi="df", true_face_power=0.1))
    d = t.code_discriminator
    assert isinstance(d, CodeDiscriminator)
    assert [c.out_channels for c in d.convs] == [256]  # code_res 4: one downscale
    assert [c.kernel_size for c in CodeDiscriminator(8, 16).convs] == [(4, 4), (3, 3), (3, 3)]
    before = _snapshot(d)
    terms = t.step()
    assert {"true_face", "code_discriminator"} <= set(terms) and all(_changed(d, before))


def test_gan_options_shape_the_discriminator() -> None:
    t = trainer(tiny(gan_power=5.0, gan_patch_size=9, gan_dims=8))
    assert t.discriminator.patch_size == 9 and t.discriminator.in_conv.out_channels == 8
    assert trainer(tiny(gan_power=1.0)).discriminator.patch_size == 32 // 8  # DFL's default resolution // 8


def test_preview_history_cadence_is_dfls() -> None:
    """should_save_preview_history: every 10 * max(1, resolution // 64) iterations, from the first."""
    t = trainer(tiny(write_preview_history=True))
    due = []
    for _ in range(21):
        t.step()
        due.append(t.preview_history_due())
    assert [i for i, d in enumerate(due) if d] == [0, 10, 20]
    assert not trainer().preview_history_due()


def test_presets_say_where_they_leave_dfls_ranges() -> None:
    assert Config.preset("seed").outside_dfl_ranges() == {}
    assert set(Config.preset("cpu").outside_dfl_ranges()) == {"d_dims", "d_mask_dims"}
    assert tiny(e_dims=17).outside_dfl_ranges()["e_dims"] == "17 is odd (DFL rounds it up to even)"


def test_lr_cos_counts_optimiser_steps_not_parameter_updates() -> None:
    """OptimizerBase keeps one iteration counter: a parameter that sat out steps rejoins the schedule."""
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = Adam([a, b], lr=1.0, lr_cos=8)
    for step in range(4):
        a.grad = torch.ones(1)
        b.grad = torch.ones(1) if step == 3 else None
        optimizer.step()
    assert float(-b.detach()) == pytest.approx(0.0, abs=2e-3)  # its one update came at t = 4: factor 0


def test_optimiser_state_can_live_on_another_device() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    optimizer = AdaBelief([p], lr=0.1, state_device="cpu")
    p.grad = torch.ones(3)
    optimizer.step()
    assert optimizer.state[p]["ms"].device.type == "cpu" and p.device.type == "cpu"
    assert trainer(tiny(models_opt_on_gpu=False)).optimizer.state_device is None  # no GPU: nothing to move


def test_random_hsv_shifts_only_the_src_input() -> None:
    """random_hsv_shift_amount is set on src's warped output only; off while pretraining."""
    t = trainer(tiny(random_warp=False, random_hsv_power=0.3))
    src, dst = t._samples("src"), t._samples("dst")
    assert not torch.equal(src.warped, src.target) and torch.equal(dst.warped, dst.target)
    p = trainer(tiny(random_warp=False, random_hsv_power=0.3, pretrain=True))._samples("src")
    assert torch.equal(p.warped, p.target)


def test_a_checkpoint_from_another_kind_of_device_resumes_with_a_fresh_dropout_stream() -> None:
    """A CUDA generator's state (16 bytes: Philox seed and offset) cannot seed a CPU generator (and the
    streams differ anyway): a run moved between GPU and CPU goes on with a stream drawn from its seed
    and iteration, the same each time. tests/test_cuda.py loads a real GPU checkpoint on the CPU."""
    trainer = Trainer(tiny(lr_dropout=True), device="cpu", pool_size=16)
    state = dict(trainer._state(), iteration=7, dropout_generator=torch.zeros(16, dtype=torch.uint8))
    trainer._load_state(state)
    expected = torch.Generator().manual_seed(trainer.seed * 1_000_003 + 7).get_state()
    assert trainer.iteration == 7 and torch.equal(trainer.dropout_generator.get_state(), expected)
