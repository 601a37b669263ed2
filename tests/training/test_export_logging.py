"""Exporting the frozen-feature graph in the background says nothing on the terminal.

The app logs INFO to the terminal and its log file; on a first start, the exporter's
optimiser (onnxscript, onnx_ir) logged 77 INFO lines there ("Replaced initializer …").
Its warnings still get through.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from training.models import onnx_features
from training.models.networks import load_pretrained
from training.records.backbones import DEFAULT_BACKBONE, get_backbone

EXPORTER = ("onnx", "onnx_ir", "onnxscript", "torch.onnx")


@pytest.mark.slow  # exports a graph (~5 s)
def test_the_graph_export_logs_no_info_lines(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    backbone = get_backbone(DEFAULT_BACKBONE)
    network = load_pretrained(backbone).eval()
    graph = tmp_path / "features.onnx"
    assert onnx_features._export(network, backbone.preprocessing.with_crop(64), graph)
    assert graph.is_file()
    chatter = [record.getMessage() for record in caplog.records
               if record.name.split(".")[0] in {"onnx", "onnx_ir", "onnxscript", "torch"}
               and record.levelno < logging.WARNING]
    assert not chatter
    assert all(logging.getLogger(name).level == logging.NOTSET for name in EXPORTER), \
        "the loggers are as they were"


def test_exporter_warnings_still_reach_the_log(caplog) -> None:
    caplog.set_level(logging.INFO)
    with onnx_features.quiet_exporter_logs():
        logging.getLogger("onnxscript.rewriter").info("Applied 100 rules.")
        logging.getLogger("onnx_ir.passes").warning("Something to look at.")
    assert [record.getMessage() for record in caplog.records] == ["Something to look at."]
