"""aelab.fitting: the one training loop (fit_steps) and fit_autoencoder: repeatable, learning, clear errors."""

from __future__ import annotations

import pytest
import torch

from aelab.fitting import _batch_indices, fit_autoencoder, fit_steps
from aelab.losses import kl_divergence
from aelab.models import VAE, ConvAutoencoder


def _images(n: int = 24, size: int = 16) -> torch.Tensor:
    """Smooth random images (n, 3, size, size) in [0, 1]."""
    coarse = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def _model(seed: int = 0) -> ConvAutoencoder:
    torch.manual_seed(seed)
    return ConvAutoencoder(16, latent_dims=8, width=4)


def _mse(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    return ((target - output) ** 2).mean()


def test_history_has_one_loss_per_step_and_the_loss_falls() -> None:
    model = _model()
    images = (_images(8) > 0.5).float()  # blocks of 0 and 1: a large first loss
    history = fit_autoencoder(model, images, _mse, steps=40, batch_size=8, lr=1e-2, seed=0, progress=False)
    assert len(history) == 40 and all(isinstance(value, float) for value in history)
    assert sum(history[-5:]) < 0.5 * sum(history[:5])
    assert not model.training


def test_same_seed_same_history_other_seed_other_batches() -> None:
    runs = [
        fit_autoencoder(_model(), _images(), _mse, steps=5, batch_size=8, seed=seed, progress=False)
        for seed in (3, 3, 4)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_batches_go_through_shuffled_epochs() -> None:
    order = _batch_indices(10, 4, 5, torch.Generator().manual_seed(0))
    assert order.shape == (5, 4)
    flat = order.flatten()
    assert sorted(flat[:10].tolist()) == list(range(10))  # the first epoch holds every image once
    assert sorted(flat[10:].tolist()) == sorted(set(flat[10:].tolist()))  # no repeat inside the second


def test_loss_gets_the_models_output_so_a_vae_trains() -> None:
    torch.manual_seed(0)
    vae = VAE(16, latent_dims=4, width=4)

    def vae_loss(target: torch.Tensor, output: tuple[torch.Tensor, ...]) -> torch.Tensor:
        recon, mu, logvar = output
        return _mse(target, recon) + 1e-3 * kl_divergence(mu, logvar)

    history = fit_autoencoder(vae, _images(), vae_loss, steps=3, batch_size=8, seed=0, progress=False)
    assert len(history) == 3


def test_progress_bar_goes_to_stderr_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    fit_autoencoder(_model(), _images(), _mse, steps=2, batch_size=8, progress=False)
    assert capsys.readouterr().err == ""
    fit_autoencoder(_model(), _images(), _mse, steps=2, batch_size=8, desc="tiny")
    assert "tiny" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be an int >= 1"),
        ({"steps": 2, "batch_size": 25}, r"at most the number of images \(24\)"),
        ({"steps": 2, "lr": 0}, "lr must be a number > 0"),
        ({"steps": 2, "seed": -1}, "seed must be an int >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_autoencoder(_model(), _images(), _mse, progress=False, **{"batch_size": 8, **kwargs})  # type: ignore[arg-type]


def test_bad_images_losses_and_models_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        fit_autoencoder(_model(), _images()[0], _mse, steps=1, progress=False)
    with pytest.raises(ValueError, match="scalar tensor"):
        fit_autoencoder(_model(), _images(), lambda t, o: (t - o) ** 2, steps=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="became nan at step 1"):
        fit_autoencoder(
            _model(), _images(), lambda t, o: _mse(t, o) * float("nan"), steps=1, batch_size=8, progress=False
        )
    with pytest.raises(TypeError, match="nn.Module"):
        fit_autoencoder(lambda x: x, _images(), _mse, steps=1, progress=False)  # type: ignore[arg-type]


def test_fit_steps_calls_the_loss_of_each_step_in_order_and_leaves_eval_mode() -> None:
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(16, 2, generator=torch.Generator().manual_seed(1)), torch.zeros(16, 1)
    seen: list[int] = []

    def step_loss(step: int) -> torch.Tensor:
        seen.append(step)
        assert model.training
        return ((model(x) - y) ** 2).mean()

    history = fit_steps(model, step_loss, steps=30, lr=0.05, progress=False)
    assert seen == list(range(30)) and len(history) == 30 and all(isinstance(v, float) for v in history)
    assert history[-1] < history[0] and not model.training


def test_fit_steps_trains_only_trainable_parameters_and_names_a_bad_step() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    model[0].requires_grad_(False)
    frozen = model[0].weight.clone()
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(2))
    fit_steps(model, lambda _: model(x).pow(2).mean(), steps=3, lr=0.1, progress=False)
    assert torch.equal(model[0].weight, frozen)
    with pytest.raises(ValueError, match="became inf at step 3"):
        fit_steps(
            model, lambda k: model(x).pow(2).mean() * (float("inf") if k == 2 else 1.0), steps=4, lr=0.1, progress=False
        )
    with pytest.raises(ValueError, match="step 1 must be a scalar tensor"):
        fit_steps(model, lambda _: model(x), steps=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit_steps(torch.nn.Identity(), lambda _: torch.zeros(()), steps=1, lr=0.1, progress=False)
