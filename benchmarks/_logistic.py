"""The plain multinomial logistic regression the benchmarks compare against (not a benchmark).

scikit-learn's default `LogisticRegression()` objective, C·Σ cross-entropy + ½‖W‖² (the bias
not penalised), fitted to convergence with L-BFGS, here in torch because scikit-learn is not
a dependency. `rare_classes.py` uses it as its baseline, `labelling_order.py` as the model a
simulated labeller refits after each batch.
"""

from __future__ import annotations

import torch


def fit_softmax(features: torch.Tensor, labels: torch.Tensor, classes: int, c: float = 1.0,
                max_iterations: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights (D, classes), biases (classes,)), float32."""
    x = features.double()
    weights = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    biases = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, biases], lr=1, max_iter=max_iterations,
                                  tolerance_grad=1e-6, tolerance_change=1e-10,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = (c * torch.nn.functional.cross_entropy(x @ weights + biases, labels,
                                                      reduction="sum")
                + 0.5 * (weights ** 2).sum())
        loss.backward()
        return loss

    optimiser.step(closure)
    return weights.detach().float(), biases.detach().float()
