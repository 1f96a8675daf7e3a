"""A float64 reference for the weight average (``--ema-decay``), shared by the classifier's and the translator's
loop tests: the raw weights after every optimizer step, and their exponential moving average computed here,
independently of ``torch.optim.swa_utils``."""

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook


class WeightTrajectory:
    """Records ``model``'s weights (float64) after every optimizer step while the fixture is active."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []
        self._hooks = []

    def record(self, model: torch.nn.Module) -> None:
        self._hooks.append(register_optimizer_step_post_hook(
            lambda opt, args, kwargs: self.steps.append({k: v.detach().double().clone()
                                                         for k, v in model.state_dict().items()})))

    def averages(self, decay: float) -> list[dict[str, torch.Tensor]]:
        """e ← d·e + (1 − d)·w after each step, e = w at the first one."""
        out, ema = [], None
        for weights in self.steps:
            ema = dict(weights) if ema is None else {k: decay * ema[k] + (1 - decay) * weights[k] for k in ema}
            out.append(ema)
        return out

    def assert_holds_average(self, model: torch.nn.Module, decay: float, step: int) -> None:
        """``model`` holds the average after step index ``step``, which differs from the raw weights there."""
        kept = self.averages(decay)[step]
        for k, v in model.state_dict().items():
            np.testing.assert_allclose(v.double().numpy(), kept[k].numpy(), rtol=1e-5, atol=1e-6)
        raw = self.steps[step]
        assert any(not torch.allclose(v.double(), raw[k]) for k, v in model.state_dict().items())

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()


@pytest.fixture
def weight_trajectory():
    trajectory = WeightTrajectory()
    yield trajectory
    trajectory.close()
