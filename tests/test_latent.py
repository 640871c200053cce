"""aelab.latent: PCA, paths between codes, factor directions, batch encoding, sampling measures."""

from __future__ import annotations

import pytest
import torch
from sklearn.decomposition import PCA as SklearnPCA

from aelab import latent
from aelab.models import VAE, ConvAutoencoder


def _data(n: int, d: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    scales = torch.linspace(4.0, 0.2, d, dtype=torch.float64)
    return torch.randn(n, d, generator=generator, dtype=torch.float64) * scales + 3.0


@pytest.mark.parametrize(("n", "d"), [(200, 12), (12, 40)])
def test_pca_matches_scikit_learn(n: int, d: int) -> None:
    x = _data(n, d)
    ours, theirs = latent.PCA(5).fit(x), SklearnPCA(5).fit(x.numpy())
    assert torch.allclose(ours.components_, torch.from_numpy(theirs.components_), atol=1e-8)
    assert torch.allclose(ours.explained_variance_, torch.from_numpy(theirs.explained_variance_), rtol=1e-8)
    assert torch.allclose(ours.explained_variance_ratio_, torch.from_numpy(theirs.explained_variance_ratio_), rtol=1e-8)
    assert torch.allclose(ours.transform(x).double(), torch.from_numpy(theirs.transform(x.numpy())), atol=1e-4)


def test_pca_keeps_the_sample_shape_and_truncates() -> None:
    images = torch.rand(30, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    pca = latent.PCA().fit(images)
    assert pca.components_.shape == (30, 48)
    assert pca.reconstruct(images).shape == (30, 3, 4, 4)
    assert pca.reconstruction_error(images) < 1e-10  # all components: exact
    errors = [pca.reconstruction_error(images, k) for k in (1, 2, 4, 8)]
    assert errors == sorted(errors, reverse=True)
    assert pca.transform(images, 4).shape == (30, 4)
    assert pca.inverse_transform(pca.transform(images, 4)).shape == (30, 3, 4, 4)
    assert torch.equal(pca.fit_transform(images), pca.transform(images))


def test_pca_refuses_bad_input() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        latent.PCA(2).transform(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="n_components"):
        latent.PCA(0)
    with pytest.raises(ValueError, match="at most min"):
        latent.PCA(5).fit(torch.rand(4, 3))
    pca = latent.PCA(2).fit(torch.rand(10, 6))
    with pytest.raises(ValueError, match="fitted on 6"):
        pca.transform(torch.rand(3, 5))
    with pytest.raises(ValueError, match="k must be"):
        pca.transform(torch.rand(3, 6), 3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        pca.transform([[1.0] * 6])


def test_lerp_and_slerp_ends_and_norms() -> None:
    generator = torch.Generator().manual_seed(2)
    z0, z1 = torch.randn(16, generator=generator), torch.randn(16, generator=generator)
    t = torch.linspace(0, 1, 5)
    for path in (latent.lerp(z0, z1, t), latent.slerp(z0, z1, t)):
        assert path.shape == (5, 16)
        assert torch.allclose(path[0], z0, atol=1e-6) and torch.allclose(path[-1], z1, atol=1e-6)
    assert torch.allclose(latent.lerp(z0, z1, t)[2], (z0 + z1) / 2)
    unit0, unit1 = z0 / z0.norm(), z1 / z1.norm()
    assert torch.allclose(latent.slerp(unit0, unit1, t).norm(dim=1), torch.ones(5), atol=1e-5)  # on the sphere
    parallel = latent.slerp(z0, 3 * z0, t)
    assert torch.isfinite(parallel).all() and torch.allclose(parallel, latent.lerp(z0, 3 * z0, t))
    assert torch.equal(latent.interpolate(z0, z1, 5, method="slerp"), latent.slerp(z0, z1, t))
    with pytest.raises(ValueError, match="method"):
        latent.interpolate(z0, z1, 5, method="cubic")
    with pytest.raises(ValueError, match="at least 2"):
        latent.interpolate(z0, z1, 1)
    with pytest.raises(ValueError, match="same size"):
        latent.lerp(z0, z1[:3], t)


def test_factor_direction_reads_and_moves() -> None:
    generator = torch.Generator().manual_seed(3)
    codes = torch.randn(500, 6, generator=generator)
    factor = 2.0 + codes @ torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0, 0.0])
    direction = latent.factor_direction(codes, factor, ridge=0.0)
    assert torch.allclose(direction.predict(codes), factor, atol=1e-4)
    moved = direction.move(codes[0], [-3.0, 0.0, 3.0])
    assert torch.allclose(direction.predict(moved), torch.tensor([-3.0, 0.0, 3.0]), atol=1e-4)
    step = moved[1] - codes[0]
    assert abs(torch.nn.functional.cosine_similarity(step, direction.weights, dim=0).abs().item() - 1) < 1e-5
    with pytest.raises(ValueError, match="3 values for 500 codes"):
        latent.factor_direction(codes, factor[:3])


def test_reparameterize_is_seeded_and_differentiable() -> None:
    mu = torch.zeros(2000, 2, requires_grad=True)
    logvar = torch.log(torch.tensor([1.0, 9.0])).expand(2000, 2).clone().requires_grad_(True)
    z = latent.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert torch.equal(z, latent.reparameterize(mu, logvar, torch.Generator().manual_seed(0)))
    assert torch.allclose(z.std(0), torch.tensor([1.0, 3.0]), rtol=0.08)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    with pytest.raises(ValueError, match="same shape"):
        latent.reparameterize(mu, logvar[:, :1])


def test_encode_and_decode_dataset_in_batches_restore_the_mode() -> None:
    torch.manual_seed(0)
    model = ConvAutoencoder(resolution=8, in_channels=1, latent_dims=3, width=4)
    images = torch.rand(10, 1, 8, 8)
    model.train()
    codes = latent.encode_dataset(model, images, batch_size=4)
    assert model.training and not codes.requires_grad
    with torch.no_grad():
        assert torch.allclose(codes, model.encode(images), atol=1e-6)
    decoded = latent.decode_dataset(model, codes, batch_size=3)
    assert decoded.shape == images.shape
    vae = VAE(resolution=8, in_channels=1, latent_dims=3, width=4)
    with torch.no_grad():
        assert torch.allclose(latent.encode_dataset(vae, images), vae.encode(images)[0], atol=1e-6)  # mu


def test_nearest_mse_and_prior_coverage() -> None:
    reference = torch.rand(50, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(latent.nearest_mse(reference[:5], reference, batch_size=2), torch.zeros(5), atol=1e-6)
    far = latent.nearest_mse(reference[:5] + 1.0, reference)
    assert (far > 0.5).all()
    codes = torch.randn(1000, 4, generator=torch.Generator().manual_seed(5))
    assert 0.8 < latent.prior_coverage(codes) <= 1.0
    assert latent.prior_coverage(0.3 * codes) < 0.1  # a narrow cloud: most prior draws fall outside it
    assert latent.prior_coverage(codes + 5.0) == 0.0  # elsewhere
    assert latent.prior_coverage(codes) == latent.prior_coverage(codes)  # seeded
    with pytest.raises(ValueError, match="quantile"):
        latent.prior_coverage(codes, quantile=1.0)
