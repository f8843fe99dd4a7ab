"""``OptimizerPair``: the discriminator's and the generator's optimizers, checkpointed as one.

``fit``'s loop state (``BackupAndRestore``, ``LoopState.state_dict``) saves and restores the model's
one compiled optimizer. A GAN has two; this wrapper presents them as one ``torch.optim.Optimizer``
whose ``state_dict`` is the two state dicts laid end to end (the second's parameter ids shifted
past the first's), so a resumed GAN continues with both Adam states, not fresh ones. Each step
of a GAN calls ``pair.discriminator.step()`` or ``pair.generator.step()``, never ``pair.step()``.
"""
from __future__ import annotations

import torch


class OptimizerPair(torch.optim.Optimizer):
    """Two torch optimizers, saved and loaded together.

    Args:
        discriminator: the discriminator's optimizer.
        generator: the generator's optimizer.
    """

    def __init__(self, discriminator: torch.optim.Optimizer, generator: torch.optim.Optimizer):
        params = [p for opt in (discriminator, generator) for g in opt.param_groups for p in g["params"]]
        super().__init__(params, {})
        self.discriminator, self.generator = discriminator, generator

    def _n_params(self) -> int:
        return sum(len(g["params"]) for g in self.discriminator.param_groups)

    def step(self, closure=None):  # type: ignore[override]
        raise TypeError("OptimizerPair.step: step the discriminator or the generator itself "
                        "(pair.discriminator.step() / pair.generator.step()); a GAN updates them at different moments.")

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.discriminator.zero_grad(set_to_none=set_to_none)
        self.generator.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:  # type: ignore[override]
        d, g = self.discriminator.state_dict(), self.generator.state_dict()
        shift = self._n_params()
        state = dict(d["state"])
        state.update({pid + shift: v for pid, v in g["state"].items()})
        groups = list(d["param_groups"]) + [dict(grp, params=[p + shift for p in grp["params"]])
                                           for grp in g["param_groups"]]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:  # type: ignore[override]
        shift, n_groups = self._n_params(), len(self.discriminator.param_groups)
        groups = state_dict["param_groups"]
        state = {int(k): v for k, v in state_dict["state"].items()}
        self.discriminator.load_state_dict({"state": {k: v for k, v in state.items() if k < shift},
                                            "param_groups": groups[:n_groups]})
        self.generator.load_state_dict({
            "state": {k - shift: v for k, v in state.items() if k >= shift},
            "param_groups": [dict(grp, params=[p - shift for p in grp["params"]]) for grp in groups[n_groups:]]})


__all__ = ["OptimizerPair"]
