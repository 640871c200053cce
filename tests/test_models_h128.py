"""aelab.models.h128: DeepFaceLab 1.0's H128, counted layer by layer from its description."""

from __future__ import annotations

import pytest
import torch

from aelab.models import H128, SAEHDOutput, SwapModel, count_parameters


def conv(k: int, a: int, b: int) -> int:
    return k * k * a * b + b


def expected_parts(resolution: int, ae: int, e: int) -> dict[str, int]:
    """Weights + biases of each part, from DFL 1.0's Build: four 5×5 stride-2 convs, two dense
    layers, an upscale (3×3 conv to 4× the channels); decoders of two branches of three upscales and a
    5×5 output conv."""
    side = resolution // 16
    encoder = (
        conv(5, 3, e)
        + conv(5, e, 2 * e)
        + conv(5, 2 * e, 4 * e)
        + conv(5, 4 * e, 8 * e)
        + 8 * e * side**2 * ae
        + ae
        + ae * ae * side**2
        + ae * side**2
        + conv(3, ae, 4 * ae)
    )
    ups = conv(3, ae, 4 * ae) + conv(3, ae, 4 * (ae // 2)) + conv(3, ae // 2, 4 * (ae // 4))
    decoder = 2 * ups + conv(5, ae // 4, 3) + conv(5, ae // 4, 1)
    return {"encoder": encoder, "decoder_src": decoder, "decoder_dst": decoder}


@pytest.mark.parametrize(("resolution", "ae", "e"), [(128, 512, 128), (128, 256, 128), (32, 64, 16)])
def test_parameter_counts_match_the_description(resolution: int, ae: int, e: int) -> None:
    with torch.device("meta"):
        model = H128(resolution=resolution, ae_dims=ae, e_dims=e)
    counts = {name: count_parameters(part) for name, part in model.parts().items()}
    assert counts == expected_parts(resolution, ae, e)


def test_shapes_and_swap_is_decoder_src_of_dst() -> None:
    model = H128(resolution=32, ae_dims=64, e_dims=16).eval()
    src, dst = torch.rand(2, 3, 32, 32), torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        out = model(src, dst)
        swap = model.swap(dst)
    assert isinstance(out, SAEHDOutput)
    assert out.pred_src_src.shape == (2, 3, 32, 32) and out.pred_dst_dstm.shape == (3, 1, 32, 32)
    # model(src, dst) encodes both batches in one call (as DF does), swap(dst) dst alone: equal up to rounding
    assert torch.allclose(swap.pred_src_dst, out.pred_src_dst, atol=1e-6)
    assert torch.allclose(swap.pred_dst_dstm, out.pred_dst_dstm, atol=1e-6)
    assert torch.equal(swap.pred_src_dst, model.decoder_src(model.encoder(dst))[0])
    assert 0 <= float(out.pred_src_dst.min()) and float(out.pred_src_dst.max()) <= 1


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        H128(resolution=40)
    with pytest.raises(ValueError, match="multiple of 4"):
        H128(resolution=32, ae_dims=30, e_dims=4)
    model = H128(resolution=32, ae_dims=16, e_dims=4)
    with pytest.raises(ValueError, match="32x32"):
        model.swap(torch.rand(1, 3, 64, 64))


def test_h128_is_a_swap_model_the_trainer_takes() -> None:
    from aelab.train import Config, Trainer

    model = H128(resolution=32, ae_dims=16, e_dims=4)
    assert isinstance(model, SwapModel) and list(model.parts()) == ["encoder", "decoder_src", "decoder_dst"]
    config = Config(archi="df", resolution=32, batch_size=2, pretrain=False, random_warp=False)
    trainer = Trainer(config, device="cpu", pool_size=4, model=model)
    assert trainer.model is model and set(trainer.step()) >= {"src_total", "dst_total"}
    with pytest.raises(ValueError, match="state_dict"):
        trainer.save("unused")
    with pytest.raises(ValueError, match="pretrain"):
        Trainer(Config(archi="df", resolution=32), device="cpu", model=model)
