"""The tables of `calibration.py` that read past the noise of 120 photos: the seeds' test
photos pooled per setting, and the recalibration rules side by side.

Not a benchmark itself. Every figure comes from the logits of the model as trained that
`calibration.py` keeps for each run's validation and test parts ("logits", "labels").
"""

from __future__ import annotations

import statistics
from typing import Any

import _common
import numpy as np
from _calibration_estimators import debiased_ece, equal_mass_ece
from _calibration_rules import ORACLE, RULES, best_on_test, nll, softmax

from training.records.calibration import (
    calibrated_chance,
    ece_floor,
    expected_calibration_error,
)

TARGET = 0.03
SIGNIFICANT = 0.05
"""A p-value of "calibrated" under this: a miscalibration the photos can show."""


def _arrays(part: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(part["logits"], dtype=np.float64), np.asarray(part["labels"])


def _scored(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probabilities = softmax(logits)
    return probabilities.max(1), probabilities.argmax(1) == labels


def rule_figures(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each rule (and the test's own best T) fitted on the run's validation logits: its
    validation ECE (in-sample), test ECE and NLL, and the test's confidences and answers."""
    val_logits, val_labels = _arrays(run["val"])
    test_logits, test_labels = _arrays(run["test"])
    recalibrations = {name: rule(val_logits, val_labels) for name, rule in RULES.items()}
    recalibrations[ORACLE] = best_on_test(test_logits, test_labels)
    result = {}
    for name, recalibrate in recalibrations.items():
        confidence, correct = _scored(recalibrate(test_logits), test_labels)
        result[name] = {
            "val_ece": expected_calibration_error(*_scored(recalibrate(val_logits), val_labels)),
            "test_ece": expected_calibration_error(confidence, correct),
            "test_nll": nll(recalibrate(test_logits), test_labels),
            "confidence": confidence, "correct": correct}
    return result


def _pooled(confidence: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    return {"images": len(confidence), "ece": expected_calibration_error(confidence, correct),
            "floor": ece_floor(confidence), "p": calibrated_chance(confidence, correct),
            "debiased": debiased_ece(confidence, correct),
            "equal_mass": equal_mass_ece(confidence, correct),
            "confidence": float(confidence.mean()), "accuracy": float(correct.mean())}


def pooled_rows(runs: list[dict[str, Any]]) -> tuple[list[tuple[object, ...]], dict[str, Any]]:
    """Per setting, before and after on every seed's validation and test photos together."""
    rows, figures = [], {}
    for setting, these in _by_setting(runs).items():
        for part in ("val", "test"):
            scaled = [(_arrays(run[part]), 1.0 / run["temperature"]) for run in these]
            for when, factor in (("before", None), ("after", True)):
                pairs = [_scored(logits * (beta if factor else 1.0), labels)
                         for (logits, labels), beta in scaled]
                stats = _pooled(*(np.concatenate(column) for column in zip(*pairs, strict=True)))
                figures[f"{setting} / {part} / {when}"] = stats
                ok = (stats["ece"] <= max(TARGET, stats["floor"])
                      and stats["p"] >= SIGNIFICANT)
                rows.append((setting, part, when, stats["images"], stats["ece"], stats["floor"],
                             f"{stats['p']:.2f}", stats["debiased"], stats["equal_mass"],
                             f"{stats['confidence']:.3f} / {stats['accuracy']:.3f}",
                             "yes" if stats["ece"] <= TARGET else "no",
                             _common.verdict(ok) if when == "after" else ""))
    return rows, figures


def rules_rows(runs: list[dict[str, Any]]) -> tuple[list[tuple[object, ...]], dict[str, Any]]:
    """Per setting and rule: means over seeds, NLL seeds better/worse than the engine's,
    and the pooled test ECE with its floor and p-value."""
    rows, figures = [], {}
    for setting, these in _by_setting(runs).items():
        scored = [rule_figures(run) for run in these]
        for name in scored[0]:
            def mean(key: str, name: str = name, scored: list[Any] = scored) -> float:
                return statistics.fmean(s[name][key] for s in scored)

            # 1e-4 nats: the engine's golden section and L-BFGS agree to about 1e-6
            better = sum(s[name]["test_nll"] < s["engine"]["test_nll"] - 1e-4 for s in scored)
            worse = sum(s[name]["test_nll"] > s["engine"]["test_nll"] + 1e-4 for s in scored)
            pooled = _pooled(np.concatenate([s[name]["confidence"] for s in scored]),
                             np.concatenate([s[name]["correct"] for s in scored]))
            figures[f"{setting} / {name}"] = {
                "val_ece": mean("val_ece"), "test_ece": mean("test_ece"),
                "test_nll": mean("test_nll"), "better": better, "worse": worse,
                "pooled": pooled}
            rows.append((setting, name, mean("val_ece"), mean("test_ece"), mean("test_nll"),
                         "" if name == "engine" else f"{better} / {worse}",
                         pooled["ece"], pooled["floor"], f"{pooled['p']:.2f}"))
    return rows, figures


def _by_setting(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        name = run["setting"] + ("" if run["mode"] == "quick" else " (fine-tune)")
        grouped.setdefault(name, []).append(run)
    return grouped


POOLED_HEADERS = ("setting", "part", "", "photos", "ECE", "floor", "p calibrated",
                  "debiased ECE", "equal-mass ECE", "mean conf. / acc.", f"≤ {TARGET}",
                  f"≤ max({TARGET}, floor), p ≥ {SIGNIFICANT}")
RULES_HEADERS = ("setting", "rule", "val ECE (in-sample)", "test ECE", "test NLL",
                 "NLL seeds better / worse than engine", "pooled test ECE", "its floor",
                 "p calibrated")
