"""Exporting the frozen-feature graph in the background says nothing on the terminal.

The app logs INFO to the terminal and its log file; on a first start, the exporter's
optimiser (onnxscript, onnx_ir) logged 77 INFO lines there ("Replaced initializer …").
Its warnings still get through. That a real export logs no INFO line and leaves the
loggers as they were is checked where the suite exports a graph anyway
(tests/training/test_onnx_features.py::test_a_damaged_cached_graph_is_exported_again): one
export instead of two.
"""

from __future__ import annotations

import logging

from training.models import onnx_features


def test_exporter_warnings_still_reach_the_log(caplog) -> None:
    caplog.set_level(logging.INFO)
    with onnx_features.quiet_exporter_logs():
        logging.getLogger("onnxscript.rewriter").info("Applied 100 rules.")
        logging.getLogger("onnx_ir.passes").warning("Something to look at.")
    assert [record.getMessage() for record in caplog.records] == ["Something to look at."]
