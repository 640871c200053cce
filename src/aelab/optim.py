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
  t the optimiser's 1-based step count (``iterations``: one counter for the whole optimiser, kept
  in each param group, so parameters that sat out some steps -- LIAE's inter_AB without random
  warp -- follow the same schedule when they train again);
- the optimiser's state lives on ``state_device`` if given (DFL's ``vars_on_cpu``, SAEHD's
  ``models_opt_on_gpu`` off: GPU memory freed at the cost of a copy per step), else beside each
  parameter.

Parameters without a gradient (``requires_grad=False`` or unused) are left alone, as DFL's update op
only covers the weights it is given. The masks are drawn from ``generator`` (a ``torch.Generator``
on the parameters' device) so that training can be resumed exactly: save ``generator.get_state()``
beside ``state_dict()``. Arguments are checked with :mod:`aelab.validate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from aelab.validate import check_float, check_int

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
        state_device: str | torch.device | None = None,
    ) -> None:
        defaults["lr"] = check_float("lr", defaults["lr"], minimum=0.0, min_inclusive=False)
        lr_dropout = check_float(
            "lr_dropout (1.0: no dropout)", lr_dropout, minimum=0.0, maximum=1.0, min_inclusive=False
        )
        lr_cos = check_int("lr_cos (0: constant lr)", lr_cos, minimum=0)
        clipnorm = check_float("clipnorm (0: no clipping)", clipnorm, minimum=0.0)
        super().__init__(params, dict(defaults, lr_dropout=lr_dropout, lr_cos=lr_cos, clipnorm=clipnorm))
        self.generator = generator
        self.state_device = None if state_device is None else torch.device(state_device)

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
            group["iterations"] = group.get("iterations", 0) + 1
            lr = group["lr"]
            if group["lr_cos"]:
                lr *= (math.cos(group["iterations"] * 2 * math.pi / group["lr_cos"]) + 1.0) / 2.0
            scale = 1.0
            if group["clipnorm"] > 0 and params:
                norm = float(torch.linalg.vector_norm(torch.stack([p.grad.float().norm() for p in params])))
                if norm >= group["clipnorm"]:
                    scale = group["clipnorm"] / norm
            for p in params:
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                grad = p.grad * scale if scale != 1.0 else p.grad
                if self.state_device is not None:
                    grad = grad.to(self.state_device)
                update = self._direction(grad, state, group).to(p.device)
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
        """``options``: ``lr_dropout``, ``lr_cos``, ``clipnorm``, ``generator``, ``state_device`` (see
        :class:`_DFLOptimizer`)."""
        for i, beta in enumerate(betas):
            check_float(f"betas[{i}]", beta, minimum=0.0, maximum=1.0, max_inclusive=False)
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
        """``options``: ``lr_dropout``, ``lr_cos``, ``clipnorm``, ``generator``, ``state_device`` (see
        :class:`_DFLOptimizer`)."""
        check_float("rho", rho, minimum=0.0, maximum=1.0, max_inclusive=False)
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
