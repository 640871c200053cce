"""aelab.forensics: spectra, degradations, blending, detectors and evaluation, on their defining properties."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from aelab import color, forensics
from aelab.data import faces
from aelab.forensics import generators, spectra


def _checkerboard(n: int = 4, size: int = 32, amplitude: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Smooth random images with a faint repeated 2x2 pattern added: what 2x transposed convolutions leave."""
    generator = torch.Generator().manual_seed(seed)

    def smooth(cells: int) -> torch.Tensor:
        return torch.nn.functional.interpolate(
            torch.rand(n, 3, cells, cells, generator=generator), size=size, mode="bilinear", align_corners=False
        )

    tile = torch.rand(n, 3, 2, 2, generator=generator)
    tile = tile - tile.mean(dim=(2, 3), keepdim=True)  # no mean: the pattern alone, at the Nyquist lines
    pattern = tile.repeat(1, 1, size // 2, size // 2)
    return (0.1 + 0.8 * smooth(4) + amplitude * pattern).clamp(0, 1)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def real() -> faces.FaceBatch:
    return faces.render(64, resolution=32, domain="mixed", seed=1)


# ------------------------------------------------------------------------------------------------ spectra


def test_luminance_is_bt601() -> None:
    images = torch.zeros(1, 3, 2, 2)
    images[:, 1] = 1.0
    assert torch.allclose(spectra.luminance(images), torch.full((1, 2, 2), 0.587, dtype=torch.float64))


def test_power_spectrum_of_a_constant_image_is_its_mean_alone() -> None:
    s = forensics.power_spectrum(torch.full((1, 3, 16, 16), 0.5))
    dc = s[0, 8, 8]
    assert dc == pytest.approx(np.log((0.5 * 256) ** 2 + spectra.EPS))
    others = torch.cat([s[0].flatten()[: 8 * 16 + 8], s[0].flatten()[8 * 16 + 9 :]])
    assert torch.allclose(others, torch.full_like(others, np.log(spectra.EPS)), atol=1e-3)


def test_azimuthal_average_of_a_constant_spectrum_is_constant() -> None:
    profile = forensics.azimuthal_average(torch.full((2, 32, 32), 3.0, dtype=torch.float64))
    assert profile.shape == (2, 23)  # floor(sqrt(16² + 16²)) = 22: rings 0..22
    assert torch.allclose(profile, torch.full_like(profile, 3.0))


def test_azimuthal_average_takes_the_mean_of_each_ring() -> None:
    # A spectrum equal to each bin's distance from the centre averages to about r + 1/2 in ring r, and
    # ring 0 holds the centre alone.
    h = w = 16
    y, x = torch.meshgrid(torch.arange(h) - 8.0, torch.arange(w) - 8.0, indexing="ij")
    radius = torch.sqrt(y**2 + x**2).double()
    profile = forensics.azimuthal_average(radius[None])[0]
    assert profile[0] == 0
    assert ((profile[1:] - torch.arange(1, len(profile))) >= 0).all()
    assert ((profile[1:] - torch.arange(1, len(profile))) < 1).all()


def test_dct_is_orthonormal_dct_ii() -> None:
    d = spectra.dct_matrix(8)
    assert torch.allclose(d @ d.T, torch.eye(8, dtype=torch.float64), atol=1e-12)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float32)
    reference = scipy.fft.dctn(x[0, 0].double().numpy(), norm="ortho")
    ours = forensics.dct_features(x)[0]
    assert np.allclose(ours.numpy(), np.log(np.abs(reference) + spectra.EPS), atol=1e-6)


def test_nyquist_peak_sees_a_2x2_pattern() -> None:
    plain = _checkerboard(amplitude=0.0)
    patterned = _checkerboard(amplitude=0.05)
    assert (forensics.nyquist_peak(patterned) > forensics.nyquist_peak(plain) + 1).all()
    with pytest.raises(ValueError, match="even"):
        forensics.nyquist_peak(torch.rand(1, 3, 15, 15))


# ------------------------------------------------------------------------------------------------ degrade


def test_each_jpeg_quality_gives_different_bytes(real: faces.FaceBatch) -> None:
    encoded = {q: forensics.jpeg_bytes(real.images[0], q) for q in (10, 30, 50, 70, 90, 95, 100)}
    assert len(set(encoded.values())) == len(encoded)
    assert len(encoded[10]) < len(encoded[90])


def test_jpeg_loses_more_at_lower_quality(real: faces.FaceBatch) -> None:
    x = real.images[:8]
    error = {q: float((forensics.compress(x, q) - x).abs().mean()) for q in (20, 60, 95)}
    assert error[20] > error[60] > error[95]
    assert torch.allclose(forensics.png_roundtrip(x), (x * 255).round() / 255, atol=1e-6)


def test_degrade_is_deterministic_from_its_seed(real: faces.FaceBatch) -> None:
    x = real.images[:4]
    a = forensics.degrade(x, blur=1.0, jpeg=75, resize=0.5, noise=0.02, seed=3)
    assert torch.equal(a, forensics.degrade(x, blur=1.0, jpeg=75, resize=0.5, noise=0.02, seed=3))
    assert not torch.equal(a, forensics.degrade(x, blur=1.0, jpeg=75, resize=0.5, noise=0.02, seed=4))
    assert torch.equal(forensics.degrade(x), x)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_blur_removes_high_frequencies(real: faces.FaceBatch) -> None:
    x = real.images[:8]
    high = lambda images: forensics.azimuthal_average(forensics.power_spectrum(images))[:, -8:].mean()  # noqa: E731
    assert high(forensics.degrade(x, blur=1.5)) < high(x) - 1


def test_random_degrade_repeats_and_changes_some_images(real: faces.FaceBatch) -> None:
    x = real.images[:16]
    a = forensics.random_degrade(x, seed=1)
    assert torch.equal(a, forensics.random_degrade(x, seed=1))
    changed = (a - x).flatten(1).abs().amax(dim=1) > 1e-3
    assert 0 < int(changed.sum()) < 16
    assert torch.equal(forensics.random_degrade(x, seed=1, blur_prob=0.0, jpeg_prob=0.0), x)


# ------------------------------------------------------------------------------------------------ blending


def test_boundary_map() -> None:
    m = torch.tensor([0.0, 1.0, 0.5, 0.25, 0.75]).view(1, 1, 1, 5)
    b = forensics.boundary_map(m)
    assert b.flatten().tolist() == [0.0, 0.0, 1.0, 0.75, 0.75]
    dense = forensics.boundary_map(torch.linspace(0, 1, 101).view(1, 1, 1, 101))
    assert float(dense.max()) == 1.0 and int(dense.argmax()) == 50


def test_self_blend(real: faces.FaceBatch) -> None:
    out = forensics.self_blend(real.images, real.face_mask, seed=5)
    again = forensics.self_blend(real.images, real.face_mask, seed=5)
    assert torch.equal(out.images, again.images) and torch.equal(out.mask, again.mask)
    assert torch.equal(out.real, again.real)
    assert out.images.shape == real.images.shape and out.mask.shape == real.face_mask.shape
    outside = (out.mask == 0).expand_as(real.images)
    assert torch.equal(out.images[outside], out.real[outside])  # where M = 0 the real counterpart shows alone
    assert (out.images - out.real).abs().flatten(1).amax(dim=1).gt(0.01).float().mean() > 0.9
    peaks = out.mask.flatten(1).amax(dim=1)
    assert set(np.round(peaks.numpy(), 2)) <= {0.25, 0.5, 0.75, 1.0, 0.0} or (peaks <= 1).all()
    assert 0.3 < float((peaks > 0.99).float().mean()) < 0.7  # ratio 1 half of the time
    assert float(forensics.boundary_map(out.mask).amax()) > 0.5


def test_self_blend_changes_the_source_or_the_target(real: faces.FaceBatch) -> None:
    # SBI: the change goes to the pasted copy or to the image around it, half the time each; the real
    # counterpart is that image around it, so it is the untouched face exactly when the source changed.
    out = forensics.self_blend(real.images, real.face_mask, seed=2)
    untouched = (out.real == real.images).flatten(1).all(dim=1)
    assert 0.25 < float(untouched.float().mean()) < 0.75


def test_self_blend_colour_jitter_spans_rct_moves() -> None:
    # The colour step shifts each Lab channel's mean by up to LAB_SHIFT (24 in L): on a mid-grey image
    # the jittered copies' mean L spreads over far more than the ±0.1 of brightness alone would give.
    grey = torch.full((64, 3, 16, 16), 0.5)
    mask = torch.zeros(64, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1.0
    out = forensics.self_blend(grey, mask, seed=0)
    changed = torch.where((out.real == grey).flatten(1).all(dim=1)[:, None, None, None], out.images, out.real)
    lightness = color.rgb_to_lab(changed)[:, 0, 8, 8]  # the centre: the pasted face or the changed target
    assert float(lightness.max() - lightness.min()) > 25.0
    assert float((lightness - 53.4).abs().max()) < 24.0 + 20.0  # the shift's limit plus brightness and contrast


# ------------------------------------------------------------------------------------------------ evaluation


def test_shuffled_labels_are_independent_of_the_truth() -> None:
    labels = torch.cat([torch.zeros(11), torch.ones(20)])
    shuffled = forensics.shuffle_labels(labels, seed=3)
    assert int(shuffled[:11].sum()) == 5 and int(shuffled[11:].sum()) == 10
    assert torch.equal(shuffled, forensics.shuffle_labels(labels, seed=3))
    assert not torch.equal(shuffled, forensics.shuffle_labels(labels, seed=4))


def test_auc_of_perfect_inverted_and_tied_scores() -> None:
    labels = [0, 0, 1, 1]
    assert forensics.auc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert forensics.auc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert forensics.auc([0.5, 0.5, 0.5, 0.5], labels) == 0.5


def test_average_precision_by_hand() -> None:
    # Scores ranked: 0.9 (fake), 0.8 (real), 0.7 (fake), 0.1 (real): precision 1 at recall 1/2,
    # then 2/3 at recall 1: AP = 1/2·1 + 1/2·2/3 = 5/6.
    scores, labels = [0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]
    assert forensics.average_precision(scores, labels) == pytest.approx(5 / 6)


def test_auc_and_ap_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) + 0.3 * labels, 1)  # ties
    assert forensics.auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert forensics.average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores))


def test_evaluate_counts_each_class() -> None:
    e = forensics.evaluate([0.2, 0.6, 0.9, 0.4], [0, 0, 1, 1])
    assert (e.real_accuracy, e.fake_accuracy, e.accuracy) == (0.5, 0.5, 0.5)
    assert e.auc == 0.75
    with pytest.raises(ValueError, match="one class"):
        forensics.evaluate([0.1, 0.2], [1, 1])


# ------------------------------------------------------------------------------------------------ detectors


def test_spectral_detector_finds_the_pattern_and_the_shuffled_control_does_not() -> None:
    train = forensics.labelled(_checkerboard(64, amplitude=0.0, seed=1), _checkerboard(64, amplitude=0.03, seed=2))
    test = forensics.labelled(_checkerboard(64, amplitude=0.0, seed=3), _checkerboard(64, amplitude=0.03, seed=4))
    detector = forensics.SpectralDetector("azimuthal").fit(*train)
    assert forensics.evaluate(detector.score(test[0]), test[1]).accuracy > 0.95
    control = forensics.shuffled_control(lambda: forensics.SpectralDetector("azimuthal"), train, test, seed=0)
    assert control.accuracy < 0.8
    with pytest.raises(RuntimeError, match="fit"):
        forensics.SpectralDetector().score(test[0])


def test_cnn_detector_learns_an_easy_difference(real: faces.FaceBatch) -> None:
    fake = forensics.degrade(real.images, blur=1.5)
    detector = forensics.CNNDetector(steps=60, seed=0).fit(*forensics.labelled(real.images[:48], fake[:48]))
    scores = detector.score(torch.cat([real.images[48:], fake[48:]]))
    assert scores.shape == (32,) and ((scores >= 0) & (scores <= 1)).all()
    assert forensics.auc(scores, [0] * 16 + [1] * 16) > 0.9
    again = forensics.CNNDetector(steps=60, seed=0).fit(*forensics.labelled(real.images[:48], fake[:48]))
    assert torch.equal(again.score(real.images[48:]), detector.score(real.images[48:]))


def test_blend_detector_trains_on_reals_and_masks(real: faces.FaceBatch) -> None:
    detector = forensics.BlendDetector(steps=3, seed=0).fit(real.images, real.face_mask)
    assert detector.score(real.images[:5]).shape == (5,) and len(detector.losses_) == 3 * 3  # three members
    assert len(detector.nets_) == 3
    restored = forensics.BlendDetector.from_state_dict(detector.state_dict())
    assert torch.allclose(restored.score(real.images[:5]), detector.score(real.images[:5]), atol=1e-2)
    assert restored.members == 3 and not restored.shuffled


def test_an_ensemble_scores_the_mean_of_its_members(real: faces.FaceBatch) -> None:
    # Member k of an ensemble with seed s is the single network of seed s·members + k.
    train = forensics.labelled(real.images[:16], forensics.degrade(real.images[16:32], blur=1.5))
    ensemble = forensics.CNNDetector(steps=4, members=2, seed=1).fit(*train)
    alone = [forensics.CNNDetector(steps=4, seed=s).fit(*train) for s in (2, 3)]
    x = real.images[32:40]
    assert torch.allclose(ensemble.score(x), (alone[0].score(x) + alone[1].score(x)) / 2)


def test_blend_detector_learns_blends_and_its_shuffled_control_does_not() -> None:
    # Held-out reals against their own full-strength self-blends (ratio 1): the detector separates
    # them, its control (trained on labels that say nothing about the images) does not.
    train = faces.render(512, resolution=32, domain="B", seed=11)
    test = faces.render(128, resolution=32, domain="B", seed=12)
    blended = forensics.self_blend(test.images, test.face_mask, seed=9)
    keep = blended.mask.flatten(1).amax(dim=1) > 0.99
    make = lambda shuffled: forensics.BlendDetector(steps=400, members=1, seed=0, shuffled=shuffled)  # noqa: E731
    trained = make(False).fit(train.images, train.face_mask).evaluate(blended.real[keep], blended.images[keep])
    control = make(True).fit(train.images, train.face_mask).evaluate(blended.real[keep], blended.images[keep])
    assert trained.auc > 0.8 and abs(control.auc - 0.5) < 0.15


def test_reconstruction_detector_takes_the_best_autoencoder(real: faces.FaceBatch) -> None:
    x = real.images[:6]
    blur = lambda images: forensics.degrade(images, blur=1.0)  # noqa: E731
    exact = forensics.ReconstructionDetector([lambda images: images, blur])
    assert torch.equal(exact.distances(x), torch.zeros(6))
    only_blur = forensics.ReconstructionDetector(blur)
    assert (only_blur.distances(x) > 0).all()
    # an image the "autoencoder" made (already blurred) is reconstructed better than a real one
    assert (only_blur.distances(blur(x)) < only_blur.distances(x)).all()
    images, labels = forensics.labelled(x, blur(x))
    assert forensics.evaluate(only_blur.fit(images, labels).score(images), labels).auc == 1.0


def test_transfer_table_trains_on_each_generator(real: faces.FaceBatch) -> None:
    fakes = {
        "blur": (forensics.degrade(real.images[:32], blur=1.5), forensics.degrade(real.images[32:], blur=1.5)),
        "noise": (
            forensics.degrade(real.images[:32], noise=0.05, seed=1),
            forensics.degrade(real.images[32:], noise=0.05, seed=2),
        ),
    }
    table = forensics.transfer_table(
        lambda: forensics.SpectralDetector("azimuthal"), (real.images[:32], real.images[32:]), fakes
    )
    assert set(table) == {"blur", "noise"} and set(table["blur"]) == {"blur", "noise"}
    assert table["blur"]["blur"].auc > 0.9 and table["noise"]["noise"].auc > 0.9


def test_transfer_table_tests_a_generator_against_its_own_reals(real: faces.FaceBatch) -> None:
    train_real, test_real, own_real = real.images[:24], real.images[24:40], real.images[40:]
    fakes = {"blur": (forensics.degrade(train_real, blur=1.5), forensics.degrade(test_real, blur=1.5))}

    def detector() -> forensics.SpectralDetector:
        return forensics.SpectralDetector("azimuthal")

    own_fakes = forensics.degrade(own_real, blur=1.5)
    table = forensics.transfer_table(
        detector, (train_real, test_real), fakes, test_only={"other blur": (own_real, own_fakes)}
    )
    assert list(table["blur"]) == ["blur", "other blur"]
    fitted = detector().fit(*forensics.labelled(train_real, fakes["blur"][0]))
    assert table["blur"]["other blur"] == fitted.evaluate(own_real, own_fakes)
    with pytest.raises(ValueError, match="give each name once"):
        forensics.transfer_table(detector, (train_real, test_real), fakes, test_only={"blur": (own_real, own_fakes)})
    # a row's detector fitted already is used as it is: the same table, no second fit
    again = forensics.transfer_table(
        lambda: pytest.fail("a fitted row must not build a detector"), (train_real, test_real), fakes,
        test_only={"other blur": (own_real, own_fakes)}, fitted={"blur": fitted},
    )  # fmt: skip
    assert again == table
    with pytest.raises(ValueError, match=r"fitted names rows the table does not have \(\['noise'\]\)"):
        forensics.transfer_table(detector, (train_real, test_real), fakes, fitted={"noise": fitted})


@pytest.mark.parametrize("kind", generators.UPSAMPLINGS)
def test_upsampling_autoencoder_shapes(kind: str) -> None:
    model = generators.UpsamplingAutoencoder(kind, resolution=16, ae_dims=8, dims=4)
    out = model(torch.rand(2, 3, 16, 16))
    assert out.shape == (2, 3, 16, 16) and out.min() >= 0 and out.max() <= 1
    assert generators.UpsamplingAutoencoder(**model.config()).config() == model.config()


def test_train_autoencoder_repeats() -> None:
    a, losses_a = generators.train_autoencoder("nearest", steps=3, pool_size=16, batch_size=4, progress=False)
    b, losses_b = generators.train_autoencoder("nearest", steps=3, pool_size=16, batch_size=4, progress=False)
    assert losses_a == losses_b and len(losses_a) == 3


# ------------------------------------------------------------------------------------------------ figures


def test_spectra_figure_keeps_its_legend_off_the_curves(real: faces.FaceBatch) -> None:
    from aelab.forensics.figures import spectra_figure

    groups = {f"group {k}": real.images[k::8] for k in range(8)}
    figure = spectra_figure(groups, title="spectra")
    figure.canvas.draw()
    curves = figure.axes[-1]
    legend = curves.get_legend().get_window_extent()
    assert legend.x0 >= curves.get_window_extent().x1  # beside the curves, not over the highest frequencies
    width, height = figure.get_size_inches()
    assert width < 3 * height  # a grid of spectra above the curves, not one long row
    assert len(figure.axes) == len(groups) + 1
