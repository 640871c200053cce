"""How a detector is judged: ROC and AUC, average precision, accuracy at 0.5 -- for real and fake
images separately -- always on held-out images, beside a shuffled-label control.

Labels: 1 for a generated ("fake") image, 0 for a real one; scores: higher means "more likely fake",
and a detector's :meth:`~aelab.forensics.detectors.Detector.score` is a probability, so 0.5 is its
threshold. Wang et al. 2020 report average precision beside accuracy at 0.5 because the two can
disagree: a detector may rank every fake above every real (AP 1) and still call them all real (its
threshold sits in the wrong place); the per-class accuracies show which way it errs.

- :func:`roc_curve`, :func:`auc` (the area under the ROC: the probability that a random fake
  scores above a random real, ties counting half -- the Mann-Whitney statistic);
- :func:`average_precision`: ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds from
  the highest down (no interpolation);

these three are scikit-learn's (``roc_curve``, ``roc_auc_score``, ``average_precision_score``, imported
where they are called) after the kit's checks of scores and labels;
- :func:`evaluate` -> :class:`Evaluation`; :func:`shuffle_labels` and :func:`shuffled_control` (fit
  on labels independent of the truth: a detector that scores well then has found a leak);
  :func:`train_held_out_control`: the training, held-out and shuffled-label accuracies together;
- :func:`transfer_table`: train on one generator, test on every generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from aelab.validate import check_seed


class Detector(Protocol):
    """What the evaluation needs of a detector (:class:`aelab.forensics.detectors.Detector` is one):
    ``fit(images, labels)`` returning itself, and ``score(images)``, the probability of "fake"."""

    def fit(self, images: Tensor, labels: Tensor) -> Detector: ...

    def score(self, images: Tensor) -> Tensor: ...


__all__ = [
    "labelled",
    "roc_curve",
    "auc",
    "average_precision",
    "Evaluation",
    "evaluate",
    "shuffle_labels",
    "shuffled_control",
    "train_held_out_control",
    "transfer_table",
]


def labelled(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """Real and fake images (N, C, H, W) as one batch and its labels (0 real, 1 fake), reals first."""
    if not isinstance(real, Tensor) or not isinstance(fake, Tensor):
        raise TypeError("real and fake must be torch.Tensor batches of images (N, C, H, W)")
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real and fake images must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    labels = torch.cat([torch.zeros(len(real)), torch.ones(len(fake))])
    return torch.cat([real, fake]), labels


def _arrays(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores.detach().cpu() if isinstance(scores, Tensor) else scores, dtype=np.float64).ravel()
    y = np.asarray(labels.detach().cpu() if isinstance(labels, Tensor) else labels, dtype=np.float64).ravel()
    if s.shape != y.shape or s.size == 0:
        raise ValueError(f"scores and labels must be non-empty and of the same length, got {s.size} and {y.size}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if y.min() == y.max():
        raise ValueError("labels hold one class only: an evaluation needs real (0) and fake (1) images")
    return s, y


def roc_curve(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at each distinct threshold (from (0, 0) to (1, 1)), and the
    thresholds (the first is +inf): scikit-learn's ``roc_curve`` with every point kept."""
    from sklearn.metrics import roc_curve as sklearn_roc_curve

    s, y = _arrays(scores, labels)
    fpr, tpr, thresholds = sklearn_roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thresholds


def auc(scores: object, labels: object) -> float:
    """Area under the ROC curve: P(a random fake scores above a random real), ties counting 1/2
    (scikit-learn's ``roc_auc_score``)."""
    from sklearn.metrics import roc_auc_score

    s, y = _arrays(scores, labels)
    return float(roc_auc_score(y, s))


def average_precision(scores: object, labels: object) -> float:
    """Average precision: ``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds, highest score first
    (scikit-learn's ``average_precision_score``: no interpolation)."""
    from sklearn.metrics import average_precision_score

    s, y = _arrays(scores, labels)
    return float(average_precision_score(y, s))


@dataclass(frozen=True)
class Evaluation:
    """A detector's figures on held-out images (all in [0, 1]).

    ``accuracy`` counts a score above 0.5 as "fake"; ``real_accuracy`` and ``fake_accuracy`` are the
    shares of reals and of fakes it gets right; with as many reals as fakes, ``accuracy`` is their mean.
    """

    auc: float
    ap: float
    accuracy: float
    real_accuracy: float
    fake_accuracy: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def evaluate(scores: object, labels: object) -> Evaluation:
    """The :class:`Evaluation` of probabilities ``scores`` (N,) against ``labels`` (N,) (1 fake, 0 real)."""
    s, y = _arrays(scores, labels)
    said_fake = s > 0.5
    return Evaluation(
        auc=auc(s, y),
        ap=average_precision(s, y),
        accuracy=float(np.mean(said_fake == (y == 1))),
        real_accuracy=float(np.mean(~said_fake[y == 0])),
        fake_accuracy=float(np.mean(said_fake[y == 1])),
    )


def shuffle_labels(labels: Tensor, seed: int) -> Tensor:
    """Labels (N,) of 0 and 1 that carry no information about the true ones: within each true class,
    half the images (rounded down) get 1 and the rest 0, at random positions drawn from ``seed``.

    A plain permutation of the labels does not guarantee that: it leaves a chance correlation with the
    truth, of either sign and different for every seed (with n reals and n fakes, the share of reals
    called "fake" differs from the share of fakes by about 1/sqrt(n) at random). Where the features
    separate the classes well, a detector fit on such labels learns that small correlation as if it
    were the signal, and its held-out accuracy lands away from 0.5 -- above it for some seeds, below
    for others -- so a plain permutation's control says more about its seed than about a leak.
    Drawing exactly half of each class (equal shares when the class sizes are even) makes the
    shuffled labels uncorrelated with the truth for every seed.
    """
    seed = check_seed("seed", seed)
    labels = torch.as_tensor(labels).float().flatten()
    generator = torch.Generator().manual_seed(seed)
    shuffled = torch.empty_like(labels)
    for value in (0.0, 1.0):
        where = (labels == value).nonzero().flatten()
        coin = torch.zeros(len(where))
        coin[: len(where) // 2] = 1.0
        shuffled[where] = coin[torch.randperm(len(where), generator=generator)]
    return shuffled


def shuffled_control(
    make_detector: Callable[[], Detector], train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], *, seed: int = 0
) -> Evaluation:
    """Fit a fresh detector on ``train`` = (images, labels) with the labels replaced by
    :func:`shuffle_labels`; evaluate it on ``test``.

    Such labels carry no information about the images, so the held-out accuracy must sit near 0.5
    (with a few hundred test images, within about 0.45-0.55): a detector that does better has found a
    leak between its training and test data, not a fingerprint.
    """
    images, labels = train
    detector = make_detector().fit(images, shuffle_labels(labels, seed))
    return evaluate(detector.score(test[0]), test[1])


def train_held_out_control(
    make_detector: Callable[[], Detector], train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], *, seed: int = 0
) -> dict[str, float]:
    """A detector's accuracy at 0.5 on its training set (``"train"``), on held-out images
    (``"held_out"``), and its :func:`shuffled_control`'s on the held-out images (``"shuffled"``).

    ``train`` and ``test`` are (images, labels); ``make_detector`` builds a fresh, unfitted detector.
    Lab 07's exercise 7.3 asks for this; its check compares an answer with it.
    """
    detector = make_detector().fit(*train)
    return {
        "train": evaluate(detector.score(train[0]), train[1]).accuracy,
        "held_out": evaluate(detector.score(test[0]), test[1]).accuracy,
        "shuffled": shuffled_control(make_detector, train, test, seed=seed).accuracy,
    }


def transfer_table(
    make_detector: Callable[[], Detector],
    real: tuple[Tensor, Tensor],
    fakes: Mapping[str, tuple[Tensor, Tensor]],
    *,
    train_on: Mapping[str, Tensor] | None = None,
    test_only: Mapping[str, tuple[Tensor, Tensor]] | None = None,
    fitted: Mapping[str, Detector] | None = None,
) -> dict[str, dict[str, Evaluation]]:
    """Train on one generator, test on all: ``{train name: {test name: Evaluation}}``.

    Args:
        make_detector: builds a fresh, unfitted detector (e.g. ``lambda: CNNDetector(seed=0)``).
        real: (training reals, held-out reals), images (N, C, H, W) in [0, 1].
        fakes: generator name -> (training fakes, held-out fakes). **Any** generator's images fit
            here: a model's swaps, an autoencoder's reconstructions, a GAN's samples, merged frames.
        train_on: the generators to train on (default: every one in ``fakes``); a mapping
            name -> training fakes overrides ``fakes``' training half for that row.
        test_only: generators no row trains on, name -> (held-out reals, held-out fakes), each
            tested against its own reals: e.g. a model's swaps of some dst faces against those faces'
            true swaps (lab 07 tests lab 05's GAN fine-tunes so, from its shipped ``swaps.pt``).
        fitted: rows whose detector is already fit on that row's training set, name -> detector
            (one the caller uses elsewhere too); the other rows fit ``make_detector()``.

    Each row's detector is fit on the training reals against that generator's training fakes and
    evaluated on the held-out reals against every generator's held-out fakes, then on each
    ``test_only`` pair; the columns are ``fakes``' names, then ``test_only``'s.
    """
    real_train, real_test = real
    rows = dict(train_on) if train_on is not None else {name: pair[0] for name, pair in fakes.items()}
    test_only = dict(test_only or {})
    fitted = dict(fitted or {})
    if unknown := sorted(set(fitted) - set(rows)):
        raise ValueError(f"fitted names rows the table does not have ({unknown}); its rows: {list(rows)}")
    if set(test_only) & set(fakes):
        both = sorted(set(test_only) & set(fakes))
        raise ValueError(f"test_only names a generator that fakes has too ({both}): give each name once")
    table: dict[str, dict[str, Evaluation]] = {}
    for name, fake_train in rows.items():
        detector = fitted[name] if name in fitted else make_detector().fit(*labelled(real_train, fake_train))
        real_scores = detector.score(real_test)
        table[name] = {}
        for test_name, (_, fake_test) in fakes.items():
            scores = torch.cat([real_scores, detector.score(fake_test)])
            table[name][test_name] = evaluate(scores, labelled(real_test, fake_test)[1])
        for test_name, (own_real, fake_test) in test_only.items():
            images, labels = labelled(own_real, fake_test)
            table[name][test_name] = evaluate(detector.score(images), labels)
    return table
