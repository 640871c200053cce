"""DeepFaceLab's optimisers, as ``torch.optim.Optimizer`` subclasses: :class:`AdaBelief`, :class:`RMSprop`
(and :class:`Adam`, which the kit's CPU recipe uses, with the same clipnorm and lr_dropout).

They reproduce ``core/leras/optimizers/AdaBelief.py``, ``RMSprop.py`` and ``OptimizerBase.py`` of
DeepFaceLab, which differ from the textbook optimisers in small ways that this module keeps:

- no bias correction (AdaBelief's first steps are therefore larger than ``lr``);
- ε = ``np.finfo(float32).resolution`` = 1e-6, added to the square root;
- AdaBelief's second moment tracks (g − m_t)² with the *new* m_t;
- ``clipnorm`` (SAEHD's ``clipgrad``: 1.0) scales every gradient by c / ‖g‖ when the global norm
  ‖g‖ over all the optimiser's parameters reaches c (``OptimizerBase.tf_clip_norm``);
- ``lr_dropout`` (SAEHD: 0.3 when enabled, else 1.0) multiplies each parameter's update by a fresh
  Bernoulli(``lr_dropout``) mask at every step (``nn.random_binomial``: 1 where uniform ≤ p);
- ``lr_cos`` (SAEHD: 500 when lr_dropout is on, else 0) scales lr by (cos(2π·t / lr_cos) + 1) / 2,
  t the 1-based step count.

The masks are drawn from ``generator`` (a ``torch.Generator`` on the parameters' device) so that
training can be resumed exactly: save ``generator.get_state()`` beside ``state_dict()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["AdaBelief", "Adam", "RMSprop", "DFL_EPSILON"]

#: ``np.finfo(np.float32).resolution``, DeepFaceLab's ε in both optimisers.
DFL_EPSILON = 1e-6


class _DFLOptimizer(torch.optim.Optimizer):
    """What DeepFaceLab's optimisers share: global-norm clipping, lr_cos and lr_dropout.

    Subclasses implement :meth:`_direction`, the update before it is scaled by ``-lr``.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        defaults: dict[str, float],
        *,
        lr_dropout: float = 1.0,
        lr_cos: int = 0,
        clipnorm: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if not defaults["lr"] > 0:
            raise ValueError(f"lr must be > 0, got {defaults['lr']!r}")
        if not 0.0 < lr_dropout <= 1.0:
            raise ValueError(f"lr_dropout must be in (0, 1] (1.0: no dropout), got {lr_dropout!r}")
        if not (isinstance(lr_cos, int) and lr_cos >= 0):
            raise ValueError(f"lr_cos must be an int >= 0 (0: constant lr), got {lr_cos!r}")
        if not clipnorm >= 0:
            raise ValueError(f"clipnorm must be >= 0 (0: no clipping), got {clipnorm!r}")
        super().__init__(params, dict(defaults, lr_dropout=lr_dropout, lr_cos=lr_cos, clipnorm=clipnorm))
        self.generator = generator

    def _direction(self, grad: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One DeepFaceLab update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            scale = 1.0
            if group["clipnorm"] > 0 and params:
                norm = float(torch.linalg.vector_norm(torch.stack([p.grad.float().norm() for p in params])))
                if norm >= group["clipnorm"]:
                    scale = group["clipnorm"] / norm
            for p in params:
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                update = self._direction(p.grad * scale if scale != 1.0 else p.grad, state, group)
                lr = group["lr"]
                if group["lr_cos"]:
                    lr *= (math.cos(state["step"] * 2 * math.pi / group["lr_cos"]) + 1.0) / 2.0
                if group["lr_dropout"] < 1.0:
                    keep = torch.rand(p.shape, device=p.device, generator=self.generator) <= group["lr_dropout"]
                    update = update * keep
                p.add_(update, alpha=-lr)
        return loss


class AdaBelief(_DFLOptimizer):
    """DeepFaceLab's AdaBelief (``core/leras/optimizers/AdaBelief.py``).

    m_t = β₁·m + (1 − β₁)·g;  v_t = β₂·v + (1 − β₂)·(g − m_t)²;  p −= lr · m_t / (√v_t + ε),
    without bias correction. SAEHD's default optimiser (option ``adabelief``, default True).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 5e-5,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = DFL_EPSILON,
        **options: Any,
    ) -> None:
        """``options``: ``lr_dropout``, ``lr_cos``, ``clipnorm``, ``generator`` (see :class:`_DFLOptimizer`)."""
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas!r}")
        super().__init__(params, dict(lr=lr, beta1=betas[0], beta2=betas[1], eps=eps), **options)

    def _direction(self, grad: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        if "ms" not in state:
            state["ms"], state["vs"] = torch.zeros_like(grad), torch.zeros_like(grad)
        ms, vs = state["ms"], state["vs"]
        ms.mul_(group["beta1"]).add_(grad, alpha=1.0 - group["beta1"])
        vs.mul_(group["beta2"]).addcmul_(grad - ms, grad - ms, value=1.0 - group["beta2"])
        return ms / (vs.sqrt() + group["eps"])


class RMSprop(_DFLOptimizer):
    """DeepFaceLab's RMSprop (``core/leras/optimizers/RMSprop.py``).

    a_t = ρ·a + (1 − ρ)·g²;  p −= lr · g / (√a_t + ε), with ρ = 0.9. SAEHD's optimiser when
    ``adabelief`` is off.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 5e-5,
        rho: float = 0.9,
        eps: float = DFL_EPSILON,
        **options: Any,
    ) -> None:
        """``options``: ``lr_dropout``, ``lr_cos``, ``clipnorm``, ``generator`` (see :class:`_DFLOptimizer`)."""
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must lie in [0, 1), got {rho!r}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps), **options)

    def _direction(self, grad: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        if "acc" not in state:
            state["acc"] = torch.zeros_like(grad)
        acc = state["acc"]
        acc.mul_(group["rho"]).addcmul_(grad, grad, value=1.0 - group["rho"])
        return grad / (acc.sqrt() + group["eps"])


class Adam(AdaBelief):
    """Adam (Kingma & Ba 2015) with bias correction; not a DeepFaceLab optimiser.

    m_t = β₁·m + (1 − β₁)·g;  v_t = β₂·v + (1 − β₂)·g²;  p −= lr · m̂_t / (√v̂_t + ε) with
    m̂_t = m_t / (1 − β₁ᵗ), v̂_t = v_t / (1 − β₂ᵗ). The bias correction keeps the first steps at
    about ``lr``, which lets the kit's short CPU runs use a larger lr than DFL's AdaBelief tolerates.
    ``clipnorm``, ``lr_dropout`` and ``lr_cos`` work as in the DeepFaceLab optimisers.
    """

    def _direction(self, grad: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        if "ms" not in state:
            state["ms"], state["vs"] = torch.zeros_like(grad), torch.zeros_like(grad)
        ms, vs, t = state["ms"], state["vs"], state["step"]
        ms.mul_(group["beta1"]).add_(grad, alpha=1.0 - group["beta1"])
        vs.mul_(group["beta2"]).addcmul_(grad, grad, value=1.0 - group["beta2"])
        return (ms / (1.0 - group["beta1"] ** t)) / ((vs / (1.0 - group["beta2"] ** t)).sqrt() + group["eps"])
