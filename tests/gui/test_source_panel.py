"""The Source panel: the analysis shown beside the choices; applying one re-makes the frames
on a worker as one undoable edit, and the timeline follows."""

import pytest
from PySide6.QtCore import QSettings

from sdhd_studio.core.project import OutputSettings
from sdhd_studio.core.source import COLOUR_MATRICES, DEINTERLACE_MODES, FIELD_ORDERS, IVTC_MODES
from sdhd_studio.gui import main_window
from sdhd_studio.gui.about import SystemInfo
from sdhd_studio.gui.main_window import MainWindow
from sdhd_studio.gui.source_panel import CHOICES
from sdhd_studio.render.session import Session

pytestmark = pytest.mark.usefixtures("no_message_boxes")


def test_every_choice_is_offered():
    assert [set(options) for _, _, options in CHOICES] == [
        set(FIELD_ORDERS), set(DEINTERLACE_MODES), set(IVTC_MODES), set(COLOUR_MATRICES)
    ]


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, tapes):
    monkeypatch.setattr(
        main_window, "collect_system_info",
        lambda preference: SystemInfo((), "not asked here", None, "not asked here", preference),
    )
    project = tmp_path / "tape.sdhd"
    Session.create(tapes("pal_mpg"), project, output=OutputSettings(height=288))
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    with qtbot.waitSignal(window.frameShown, timeout=20000):
        assert window.open_path(str(project))
    yield window
    window.shutdown()


def test_findings_shown_and_a_new_mode_applied_then_undone(window, qtbot, no_message_boxes):
    panel = window.source_panel
    assert panel.findChild(type(panel._found["scan"]), "sourceFound_scan").text() == "interlaced"
    assert "top first" in panel._found["order"].text()
    assert "50 at 50.000 fps" in panel._found["frames"].text()
    assert not panel._apply.isEnabled()
    window.set_current_frame(40)
    assert window._current == 40
    box = panel._boxes["deinterlace"]
    box.setCurrentIndex(box.findData("single"))
    assert panel._apply.isEnabled()
    with qtbot.waitSignal(window.document.projectChanged, timeout=20000):
        panel._apply.click()
    assert not no_message_boxes
    assert window.document.project.frame_count == 25
    assert window._current == 20  # the same time
    assert "25 at 25.000 fps" in panel._found["frames"].text() and not panel._apply.isEnabled()
    window.document.undo()
    assert window.document.project.frame_count == 50 and window._current == 40
