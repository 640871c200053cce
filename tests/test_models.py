"""Tests of aelab.models: DeepFaceLab's parameter counts, shapes of every option combination, the DF
and LIAE wiring, the checks, the summary, the first labs' AE/VAE and the patch discriminator."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from aelab import models as M
from aelab.commands.summary import main as summary_main

SEED_COUNTS = {"encoder": 6_727_200, "inter_AB": 9_716_864, "inter_B": 9_716_864, "decoder": 16_612_484}
DF_COUNTS = {"encoder": 6_727_200, "inter": 6_890_112, "decoder_src": 9_534_596, "decoder_dst": 9_534_596}
SMALL = {"ae_dims": 8, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2}
SEED = {"archi": "liae", "resolution": 128, "ae_dims": 128, "e_dims": 80, "d_dims": 48, "d_mask_dims": 16}
ALL_OPTIONS = ["".join(c) for n in range(4) for c in itertools.combinations("udt", n)]


@pytest.fixture(scope="module")
def seed_liae() -> M.LIAE:
    return M.build(SEED, seed=0)


@pytest.fixture(scope="module")
def seed_df() -> M.DF:
    return M.build({**SEED, "archi": "df"}, seed=0)


def small(archi: str, resolution: int = 32) -> M.DF | M.LIAE:
    return M.build({"archi": archi, "resolution": resolution, **SMALL}, seed=0)


def images(n: int, resolution: int, channels: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, resolution, resolution, generator=torch.Generator().manual_seed(seed))


def in_unit_range(t: torch.Tensor) -> bool:
    return bool(((t >= 0) & (t <= 1)).all())


# ---------------------------------------------------------------- DeepFaceLab's parameter counts


def test_seed_liae_counts_match_deepfacelab(seed_liae: M.LIAE) -> None:
    counts = {name: M.count_parameters(part) for name, part in seed_liae.parts().items()}
    assert counts == SEED_COUNTS
    assert M.count_parameters(seed_liae) == 42_773_412


def test_df_counts_match_deepfacelab(seed_df: M.DF) -> None:
    counts = {name: M.count_parameters(part) for name, part in seed_df.parts().items()}
    assert counts == DF_COUNTS
    assert M.count_parameters(seed_df) == 32_686_504


def test_summary_lists_options_counts_and_shapes(seed_liae: M.LIAE) -> None:
    text = M.summary(seed_liae)
    for expected in (
        "archi: liae",
        "resolution: 128",
        "d_mask_dims: 16",
        "42,773,412",
        "16,612,484",
        "(N, 40960)",
        "(N, 256, 16, 16)",
        "(N, 3, 128, 128) + (N, 1, 128, 128)",
    ):
        assert expected in text
    assert text.count("9,716,864") == 2


def test_main_prints_the_seed_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert summary_main(["--preset", "seed"]) == 0
    out = capsys.readouterr().out
    assert "42,773,412" in out and "6,727,200" in out


def test_main_with_flags_and_missing_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        summary_main(
            [
                "--archi",
                "df-ud",
                "--resolution",
                "64",
                "--ae-dims",
                "8",
                "--e-dims",
                "4",
                "--d-dims",
                "4",
                "--d-mask-dims",
                "2",
            ]
        )
        == 0
    )
    assert "archi: df-ud" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        summary_main(["--archi", "liae"])
    assert "--resolution" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        summary_main(["--preset", "seed", "--archi", "liae-d", "--resolution", "48"])
    assert "multiple of 32" in capsys.readouterr().err


# ---------------------------------------------------------------- every option combination


@pytest.mark.parametrize("archi_type", M.ARCHI_TYPES)
@pytest.mark.parametrize("opts", ALL_OPTIONS)
def test_every_option_combination_gives_images_in_unit_range(archi_type: str, opts: str) -> None:
    resolution = 32 if ("d" in opts or "t" in opts) else 16
    model = small(f"{archi_type}-{opts}" if opts else archi_type, resolution)
    src, dst = images(2, resolution, seed=1), images(3, resolution, seed=2)
    out = model(src, dst)
    assert [tuple(t.shape) for t in out] == [(2, 3, resolution, resolution), (2, 1, resolution, resolution)] + [
        (3, 3, resolution, resolution),
        (3, 1, resolution, resolution),
    ] * 2
    assert all(in_unit_range(t) for t in out)
    swap = model.swap(dst)
    torch.testing.assert_close(swap.pred_src_dst, out.pred_src_dst)
    torch.testing.assert_close(swap.pred_dst_dstm, out.pred_dst_dstm)


@pytest.mark.parametrize(("opts", "code_side", "flat_side"), [("", 8, 4), ("d", 4, 4), ("t", 4, 2), ("dt", 2, 2)])
def test_shapes_follow_deepfacelab(opts: str, code_side: int, flat_side: int) -> None:
    model = small("liae-" + opts if opts else "liae", 64)
    assert model.encoder_out_features == 8 * SMALL["e_dims"] * flat_side**2
    assert model.inter_AB(model.encode(images(1, 64))).shape == (1, 2 * SMALL["ae_dims"], code_side, code_side)
    assert (model.inter_AB.upscale1 is None) == ("t" in opts)
    assert len(model.decoder.heads()) == (4 if "d" in opts else 1)


# ---------------------------------------------------------------- wiring


def test_liae_wiring() -> None:
    model = small("liae-u")
    src, dst = images(2, 32, seed=1), images(2, 32, seed=2)
    out = model(src, dst)
    e, ab, b = model.encoder, model.inter_AB, model.inter_B
    torch.testing.assert_close(out.pred_src_dst, model.decoder(torch.cat([ab(e(dst)), ab(e(dst))], 1))[0])
    torch.testing.assert_close(out.pred_dst_dst, model.decoder(torch.cat([b(e(dst)), ab(e(dst))], 1))[0])
    torch.testing.assert_close(out.pred_src_srcm, model.decoder(torch.cat([ab(e(src)), ab(e(src))], 1))[1])
    codes = M.liae_codes(e, ab, b, src, dst)
    for mine, reference in zip(codes, model.codes(src, dst)):
        torch.testing.assert_close(mine, reference)
    assert M.liae_codes(e, ab, b, None, dst).src_code is None


def test_df_wiring() -> None:
    model = small("df")
    src, dst = images(2, 32, seed=1), images(2, 32, seed=2)
    out = model(src, dst)
    code = model.inter(model.encoder(dst))
    torch.testing.assert_close(out.pred_src_dst, model.decoder_src(code)[0])
    torch.testing.assert_close(out.pred_dst_dst, model.decoder_dst(code)[0])
    torch.testing.assert_close(out.pred_src_src, model.decoder_src(model.inter(model.encoder(src)))[0])
    assert list(model.parts()) == ["encoder", "inter", "decoder_src", "decoder_dst"]


def test_pixel_norm_option_normalises_the_code() -> None:
    code = small("liae-u").encode(images(3, 32))
    torch.testing.assert_close(code.square().mean(dim=1), torch.ones(3), rtol=0, atol=1e-2)
    x = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(M.pixel_norm(x), x / math.sqrt(12.5 + 1e-6))


def test_depth_to_space_uses_tensorflows_channel_order() -> None:
    c, h, w = 2, 3, 5
    x = torch.arange(4 * c * h * w, dtype=torch.float32).reshape(1, 4 * c, h, w)
    y = M.depth_to_space(x, 2)
    for i, j, k in itertools.product(range(2), range(2), range(c)):
        torch.testing.assert_close(y[0, k, i::2, j::2], x[0, (i * 2 + j) * c + k])
    # the same values as PixelShuffle, with the channels grouped differently
    torch.testing.assert_close(y, F.pixel_shuffle(x.reshape(1, 4, c, h, w).transpose(1, 2).reshape(1, 4 * c, h, w), 2))


def test_d_option_heads_paint_the_four_pixels_of_each_block() -> None:
    decoder = M.Decoder(8, 2, 2, "d")
    with torch.no_grad():
        for index, head in enumerate(decoder.heads()):
            head.weight.zero_()
            head.bias.fill_(float(index))
    image, mask = decoder(torch.rand(1, 8, 2, 2))
    assert image.shape == (1, 3, 32, 32) and mask.shape == (1, 1, 32, 32)
    logits = torch.logit(image[0, 0, :2, :2].double()).round()
    assert logits.tolist() == [[0.0, 1.0], [2.0, 3.0]]


# ---------------------------------------------------------------- checks and errors


def test_parse_archi() -> None:
    assert M.parse_archi("liae-ud") == ("liae", "ud")
    assert M.parse_archi("DF-tu") == ("df", "ut")
    assert M.parse_archi("df") == ("df", "")


@pytest.mark.parametrize(
    ("archi", "error", "message"),
    [
        ("quick96", ValueError, "known types: 'df', 'liae'"),
        ("liae-uc", ValueError, "unknown archi option 'c'"),
        ("liae-uu", ValueError, "repeated"),
        ("df-", ValueError, "no options"),
        (3, TypeError, "archi must be a str"),
    ],
)
def test_parse_archi_errors(archi: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        M.parse_archi(archi)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("archi", "resolution", "error", "message"),
    [
        ("liae", 40, ValueError, "multiple of 16; use e.g. 32 or 48"),
        ("liae-d", 48, ValueError, "with options -d it must be a multiple of 32"),
        ("df-t", 80, ValueError, "multiple of 32"),
        ("df", 0, ValueError, "resolution must be a positive int"),
        ("df", 32.0, TypeError, "resolution must be a positive int"),
        ("df", True, TypeError, "resolution"),
    ],
)
def test_resolution_errors(archi: str, resolution: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        M.build({"archi": archi, "resolution": resolution, **SMALL})


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("ae_dims", 0, ValueError),
        ("e_dims", -4, ValueError),
        ("d_dims", 4.5, TypeError),
        ("d_mask_dims", "2", TypeError),
    ],
)
def test_dims_errors(key: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=key):
        M.build({"archi": "df", "resolution": 32, **SMALL, key: value})


def test_build_takes_attributes_checks_keys_and_seeds() -> None:
    config = SimpleNamespace(archi="liae", resolution=32, **SMALL)
    state = torch.random.get_rng_state()
    first, second = M.build(config, seed=3), M.build(config, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
    assert isinstance(first, M.LIAE) and first.archi == "liae" and first.resolution == 32
    with pytest.raises(ValueError, match="no 'd_mask_dims'"):
        M.build({"archi": "df", "resolution": 32, "ae_dims": 8, "e_dims": 4, "d_dims": 4})


def test_bad_images_are_refused() -> None:
    model = small("df")
    with pytest.raises(ValueError, match=r"dst must have shape \(N, 3, 32, 32\)"):
        model(images(1, 32), images(1, 64))
    with pytest.raises(ValueError, match="floats"):
        model.swap(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_dfl_init_reinitialises_with_glorot_uniform() -> None:
    inter = small("liae").inter_B
    with torch.no_grad():
        for p in inter.parameters():
            p.fill_(5.0)
    M.dfl_init_(inter)
    bound = math.sqrt(6 / (inter.dense1.in_features + inter.dense1.out_features))
    weight = inter.dense1.weight.detach()
    assert float(weight.abs().max()) <= bound and float(weight.std()) > bound / 3
    assert all(not layer.bias.any() for layer in (inter.dense1, inter.dense2, inter.upscale1.conv1))


# ---------------------------------------------------------------- the first labs' AE and VAE


@pytest.mark.parametrize(("resolution", "channels"), [(64, 3), (32, 3), (28, 1), (8, 1)])
def test_autoencoder_and_vae_shapes(resolution: int, channels: int) -> None:
    x = images(4, resolution, channels)
    ae = M.ConvAutoencoder(resolution, channels, latent_dims=16, width=8)
    assert ae.encode(x).shape == (4, 16)
    recon = ae(x)
    assert recon.shape == x.shape and in_unit_range(recon)
    vae = M.VAE(resolution, channels, latent_dims=16, width=8)
    out = vae(x, generator=torch.Generator().manual_seed(0))
    assert out.recon.shape == x.shape and out.mu.shape == out.logvar.shape == (4, 16)
    samples = vae.sample(3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(samples, vae.sample(3, torch.Generator().manual_seed(0)))
    assert samples.shape == (3, channels, resolution, resolution)


def test_vae_is_repeatable_in_eval_mode_and_samples_in_training() -> None:
    vae = M.VAE(16, 1, latent_dims=4, width=4)
    x = images(2, 16, 1)
    vae.eval()
    torch.testing.assert_close(vae(x).recon, vae.decode(vae.encode(x)[0]))
    vae.train()
    assert not torch.equal(vae(x).recon, vae(x).recon)


def test_autoencoder_errors() -> None:
    ae = M.ConvAutoencoder(32, 3, latent_dims=8, width=4)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, 32, 32\)"):
        ae(images(1, 28, 1))
    with pytest.raises(ValueError, match=r"z must be a tensor of shape \(N, 8\)"):
        ae.decode(torch.zeros(1, 9))
    with pytest.raises(ValueError, match="latent_dims"):
        M.ConvAutoencoder(32, 3, latent_dims=0)


@pytest.mark.parametrize("resolution", [32, 28])
def test_swap_autoencoder_is_lab01s_autoencoder_wired_as_df(resolution: int) -> None:
    model = M.SwapAutoencoder(resolution=resolution, latent_dims=16, width=8).eval()
    plain = M.ConvAutoencoder(resolution, 3, latent_dims=16, width=8)
    drawing = M.ConvAutoencoder(resolution, 3, latent_dims=16, width=8, out_channels=4)
    assert isinstance(model, M.SwapModel) and list(model.parts()) == ["encoder", "decoder_src", "decoder_dst"]
    assert M.count_parameters(model.encoder) == M.count_parameters(plain.encoder)
    assert M.count_parameters(model.decoder_src) == M.count_parameters(drawing.decoder)  # one more output channel
    src, dst = images(2, resolution), images(3, resolution)
    with torch.no_grad():
        out, swap = model(src, dst), model.swap(dst)
        code = model.encoder(dst)
        drawn = model.decoder_src(code)
    assert out.pred_src_src.shape == (2, 3, resolution, resolution) and out.pred_dst_dstm.shape == (
        3,
        1,
        resolution,
        resolution,
    )
    assert torch.equal(swap.pred_src_dst, drawn[0]) and torch.equal(swap.pred_src_dstm, drawn[1])
    assert torch.equal(swap.pred_dst_dstm, model.decoder_dst(code)[1]) and in_unit_range(swap.pred_src_dst)


# ---------------------------------------------------------------- the GAN's discriminator


@pytest.mark.parametrize(("patch_size", "resolution", "center"), [(16, 128, 16), (8, 64, 16), (4, 32, 16)])
def test_unet_patch_discriminator_shapes(patch_size: int, resolution: int, center: int) -> None:
    disc = M.UNetPatchDiscriminator(patch_size=patch_size, in_channels=3, base_ch=8)
    out = disc(images(2, resolution))
    assert out.center.shape == (2, 1, center, center)
    assert out.pixel.shape == (2, 1, resolution, resolution)


def test_discriminator_layer_search_matches_deepfacelab() -> None:
    # patch 16 -> three stride-2 3x3 convs (receptive field 15); patch 4 -> one
    assert M.discriminator._find_archi(16) == [(3, 2)] * 3
    assert M.discriminator._find_archi(4) == [(3, 2)]
    assert M.discriminator._receptive_field([(3, 2), (3, 2), (3, 2)]) == 15
    with pytest.raises(ValueError, match="multiples of 8"):
        M.UNetPatchDiscriminator(16)(images(1, 20))


@pytest.mark.parametrize("archi", ["liae", "df"])
def test_decode_sides_matches_the_decoders_called_one_side_at_a_time(archi: str) -> None:
    model = M.build({"archi": archi, "resolution": 32, "ae_dims": 8, "e_dims": 4, "d_dims": 4, "d_mask_dims": 4})
    src, dst = torch.rand(3, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        codes = model.codes(src, dst)
        (src_image, src_mask), (dst_image, dst_mask) = model.decode_sides(codes)
        decoder_src, decoder_dst = model.decoders()
        for got, expected in zip(
            (src_image, src_mask, dst_image, dst_mask), (*decoder_src(codes.src_code), *decoder_dst(codes.dst_code))
        ):
            assert torch.allclose(got, expected, atol=1e-6)
    with pytest.raises(ValueError, match="needs src codes"):
        model.decode_sides(model.codes(None, dst))
