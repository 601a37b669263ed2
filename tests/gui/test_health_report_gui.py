"""The health report's "blank or nearly one colour" finding, as a user meets it: named
files, and one click (Fix…) that moves them all to quarantine, undoably."""

from __future__ import annotations

from pathlib import Path

from gui_steps import answer_quarantine_dialog, open_dataset, wait_for_data_page
from PIL import Image
from synthetic import make_dataset

from cheetahlion_gui.data.health_report import KindRole


def test_blank_placeholders_are_named_and_quarantined_in_one_click(
        window, qtbot, messages, monkeypatch, tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "colours", per_class=4)
    Image.new("RGB", (200, 150), (240, 240, 240)).convert("P").save(data / "red" / "gone.gif")
    Image.new("RGB", (200, 150), (255, 255, 255)).save(data / "blue" / "blank.png")
    quarantine = tmp_path / "quarantine"
    answer_quarantine_dialog(monkeypatch, quarantine)
    open_dataset(window, data)
    page = window.data_page
    findings = page.health.issue_filter
    rows = [findings.index(r, 0) for r in range(findings.rowCount())]
    (finding,) = [index for index in rows if index.data(KindRole) == "one_colour"]
    assert finding.data().startswith("2 photos are blank or nearly one colour (placeholders?)")
    assert "red/gone.gif" in finding.data() and "blue/blank.png" in finding.data()

    page.health.issues_view.setCurrentIndex(finding)
    assert page.health.fix_button.isEnabled()
    (action,) = page.health.fix_menu.actions()
    assert action.text() == "Move all 2 to quarantine (undoable)"
    action.trigger()
    wait_for_data_page(page, qtbot)
    assert (quarantine / "red" / "gone.gif").is_file()
    assert (quarantine / "blue" / "blank.png").is_file()
    assert not window.session.dataset.report.of_kind("one_colour")  # rescanned
    assert page.moves_panel.model.rowCount() == 2 and not messages
