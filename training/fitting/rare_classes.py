"""Training that does not sacrifice a small class: post-hoc logit adjustment.

With 120 cheetah, 120 leopard and 12 jaguar photos, a classifier trained to minimise the
average loss learns the training mix as a prior: an unsure jaguar is called a leopard, because
leopards are ten times as common in what it saw (measured: jaguar recall 0.167). The person
asking usually wants every class found as well as the others: balanced accuracy, the mean of
the per-class recalls.

Logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021) takes
that prior back out: `logits - τ·log(prior)`, the prior being each class's share of the
training images. With τ = 1 and a model whose softmax estimates p(class | photo) under the
training mix, this is the Bayes-optimal rule for balanced error. τ is chosen here on
validation by balanced accuracy from `TAUS` (τ = 0, the model as trained, is one of them, so
the choice is never worse on validation; ties go to the τ nearest 1, the rule's own value).
A dataset whose classes are within `BALANCED_RATIO` of each other keeps τ = 0.

Why this and not a class-balanced loss or sampling (`benchmarks/rare_classes.py` measured
all three in quick mode on held-out photos, docs/benchmarks.md "Rare classes"): on the shared
photos with a leopard 10 or 20 times rarer it gave a balanced accuracy of 0.96-1.00 against
0.94-0.97 for the balanced loss or sampling (at 1:20, neutral names: leopard recall 0.48 →
0.96, the common classes 1.00 → 0.99). On Gaussian features, where quick mode's head is
itself under-fitted, the balanced loss did better (0.74 against 0.66). And it is one
subtraction that folds into the classifier's bias, `bias - τ·log(prior)`: the saved network,
its ONNX/TorchScript/.pt2 exports, Grad-CAM and every predictor apply it with no code of
their own, and quick and fine-tune runs get it the same way, after training, where both
modes meet (`training.fitting.trainer`). A reweighted loss would need the epoch loop changed
for both modes and cannot be undone without training again.

In fine-tune mode (`benchmarks/rare_finetune.py`, docs/benchmarks.md "Fine-tune") a short
CPU fine-tune (3 epochs at 96 px, 1:10) learned no leopard before or after the adjustment,
and the τ chosen on its 2 validation leopards did not carry to test; a class-balanced loss
did no better (balanced accuracy 0.552 against 0.587 on test, 0.675 against 0.775 on
validation, 2 seeds), so both modes keep this one rule. A class with 2
validation photos is "too small to trust" in the app for that reason.

The run's validation figures that weigh every class the same (balanced accuracy, each class's
recall and its number of validation photos) are measured here, on the model as saved.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from training.fitting.run_context import RunContext, Trained
from training.models.embedding import default_store, embed_dataset
from training.models.frozen import FrozenFeatures
from training.records.evaluation import BalancedScores
from training.records.events import Cancelled

TAUS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
"""The adjustment strengths tried on validation (0: none; 1: the Bayes rule's)."""
BALANCED_RATIO = 1.5
"""Largest ÷ smallest class in training below which the classes count as balanced (τ = 0):
their log-priors differ by less than 0.41, which moves almost no prediction."""


def adjust_for_rare_classes(run: RunContext, trained: Trained) -> Trained:
    """Choose τ on validation, fold `-τ·log(prior)` into the network's classifier bias, and
    measure the saved model's balanced validation scores. A run without weights (stopped
    before its first epoch) or without validation is handed back unchanged, and so is a
    fine-tune stopped by the user (its validation pass would cost seconds after a Stop; a
    quick run's validation features are all stored, so it is adjusted even then)."""
    outcome = trained.outcome
    if outcome.best_state is None or not run.split.val:
        return trained
    finetune = run.config.mode == "finetune"
    if finetune and outcome.stopped == "cancelled":
        return trained  # a Stop stays immediate: no validation pass after it
    log_prior = log_priors(run.labels(run.split.train), len(run.dataset.classes))
    try:
        logits, labels = validation_logits(run)
    except Cancelled:  # stopped during that pass: the model as trained
        return trained
    tau = choose_tau(logits, labels, log_prior)
    classifier = run.network.get_classifier()
    fold_into_bias(classifier, tau, log_prior.to(classifier.bias.device))
    adjusted = adjust(logits, tau, log_prior)
    if tau:  # the saved model's own validation figures, as the loop measures them
        loss_fn = nn.CrossEntropyLoss(label_smoothing=run.config.label_smoothing)
        outcome.best_val_loss = float(loss_fn(adjusted, labels).item())
        outcome.best_val_accuracy = float((adjusted.argmax(1) == labels).float().mean().item())
    return replace(trained, balance=scores(adjusted, labels, run.dataset.classes, tau))


def log_priors(train_labels: torch.Tensor, classes: int) -> torch.Tensor:
    """log(share of the training images) per class; a class without any gets one image's
    share (its log-prior must stay finite)."""
    counts = torch.bincount(train_labels, minlength=classes).double().clamp(min=1)
    return (counts / counts.sum()).log().float()


def adjust(logits: torch.Tensor, tau: float, log_prior: torch.Tensor) -> torch.Tensor:
    """The adjusted logits, `logits - τ·log(prior)`."""
    return logits - tau * log_prior.to(logits.device)


def fold_into_bias(classifier: nn.Module, tau: float, log_prior: torch.Tensor) -> None:
    """Make `classifier` give the adjusted logits itself: `bias - τ·log(prior)`."""
    if not tau:
        return
    with torch.no_grad():
        classifier.bias -= tau * log_prior.to(classifier.bias)


def balanced_accuracy(predicted: torch.Tensor, labels: torch.Tensor, classes: int) -> float:
    """The mean recall of the classes that have validation photos."""
    recalls = class_recalls(predicted, labels, classes)
    present = [recall for recall in recalls if recall is not None]
    return sum(present) / len(present) if present else 0.0


def class_recalls(predicted: torch.Tensor, labels: torch.Tensor, classes: int
                  ) -> list[float | None]:
    """Each class's share of its photos predicted right (None: it has none)."""
    support = torch.bincount(labels, minlength=classes)
    hits = torch.bincount(labels[predicted == labels], minlength=classes)
    return [float(hits[c]) / int(support[c]) if support[c] else None for c in range(classes)]


def choose_tau(logits: torch.Tensor, labels: torch.Tensor, log_prior: torch.Tensor) -> float:
    """The τ of `TAUS` with the best balanced accuracy on (`logits`, `labels`); ties go to
    the τ nearest 1. 0 when the training classes are balanced (see `BALANCED_RATIO`)."""
    if float(log_prior.max() - log_prior.min()) < math.log(BALANCED_RATIO) or not len(labels):
        return 0.0
    classes = logits.shape[1]

    def rank(tau: float) -> tuple[float, float]:
        predicted = adjust(logits, tau, log_prior).argmax(1)
        return round(balanced_accuracy(predicted, labels, classes), 9), -abs(tau - 1.0)

    return max(TAUS, key=rank)


def scores(logits: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...], tau: float
           ) -> BalancedScores:
    """The balanced validation scores of `logits` (already adjusted by `tau`)."""
    predicted = logits.argmax(1)
    recalls = class_recalls(predicted, labels, len(classes))
    support = torch.bincount(labels, minlength=len(classes)).tolist()
    return BalancedScores(
        balanced_accuracy=balanced_accuracy(predicted, labels, len(classes)),
        recall={name: recall for name, recall in zip(classes, recalls, strict=True)
                if recall is not None},
        support=dict(zip(classes, (int(count) for count in support), strict=True)),
        logit_adjustment=tau,
    )


def validation_logits(run: RunContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The trained network's logits on every validation image, and their labels. The
    features come through the feature store: a quick run's are stored already (its backbone
    is the pretrained one); a fine-tune's are computed once (one pass over validation) and
    stored, where Evaluate finds them again."""
    network = run.network.eval()
    frozen = FrozenFeatures(network, run.prep, run.device)
    paths = [run.dataset.images[i].path for i in run.split.val]
    # A quick run's are all stored: nothing a Stop (which may already be set) should
    # interrupt. No "features" progress either way: the run's last "features" phase is the
    # "none of these" reference over every photo, which a fine-tune has just shown; this
    # pass over the validation photos (seconds) stays inside the run's last step.
    finetune = run.config.mode == "finetune"
    features = embed_dataset(paths, frozen, default_store(), run.cancel if finetune else None)
    with torch.no_grad():
        logits = network.get_classifier()(features.to(run.device)).float().cpu()
    return logits, run.labels(run.split.val)
