"""The Live window over a file played as a live source: both pictures shown, the achieved rate
and drops on screen, Stop ending the session with its recordings kept."""

import av
import clips
import pytest
from PySide6.QtCore import QSettings

from sdhd_studio.gui.live_window import LiveWindow
from sdhd_studio.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    window = LiveWindow()
    qtbot.addWidget(window)
    window.show()
    yield window
    window.shutdown()


def frame_count(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def test_a_file_played_live_shows_source_beside_result_and_records(qtbot, window, tmp_path):
    window.source_edit.setText(str(clips.SAMPLE))
    window.record_box.setChecked(True)
    window.record_edit.setText(str(tmp_path / "live.mp4"))
    window.start_button.click()
    assert window.start_button.text() == "Stop" and not window.source_edit.isEnabled()

    qtbot.waitUntil(lambda: window.result_view.pixmap() is not None
                    and not window.result_view.pixmap().isNull(), timeout=20000)
    assert "fps upscaled" in window.stats_label.text()
    assert "dropped of" in window.stats_label.text()
    qtbot.wait(1500)  # a couple of seconds of the clip
    window.start_button.click()
    qtbot.waitUntil(lambda: not window.running, timeout=20000)

    stats = window.last_stats
    assert stats.processed > 0 and stats.processed + stats.dropped == stats.offered
    assert window.start_button.text() == "Start" and window.source_edit.isEnabled()
    assert window.stats_label.text().startswith("Stopped.")
    assert f"{stats.dropped} dropped of {stats.offered}" in window.stats_label.text()
    assert window.source_view.caption_label.text() == "Source · 640×360"
    assert window.result_view.caption_label.text() == "Realtime ×2 · 1280×720"
    assert frame_count(tmp_path / "live.mp4") == frame_count(tmp_path / "live-source.mkv") \
        == stats.offered


def test_a_missing_source_is_said_and_nothing_starts(window, tmp_path):
    window.source_edit.setText(str(tmp_path / "missing.mp4"))
    window.start_button.click()
    assert not window.running
    assert window.stats_label.text().startswith("Cannot start: no such file")


def test_the_file_menu_opens_the_live_window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    main = MainWindow(settings)
    qtbot.addWidget(main)
    try:
        main.act_live.trigger()
        assert main.live_window is not None and main.live_window.isVisible()
        assert main.act_live in main.menuBar().actions()[0].menu().actions()
    finally:
        main.shutdown()
