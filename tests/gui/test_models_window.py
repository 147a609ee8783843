"""The Models window: the catalogue with where each model is, and downloads that fail clearly."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from sdhd_studio.gui.models_window import COLUMNS, ModelsWindow
from sdhd_studio.ml import models

HUB_ID = "sdhd-test/not-downloaded"


@pytest.fixture
def weights(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"\0" * 3000)
    return folder


@pytest.fixture
def window(qtbot):
    made = []

    def make():
        window = ModelsWindow()
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.shutdown()


def item(window, model_id, column):
    table = window.table
    [row] = [r for r in range(table.rowCount()) if table.item(r, 0).text() == model_id]
    return table.item(row, COLUMNS.index(column))


def cell(window, model_id, column):
    return item(window, model_id, column).text()


def download_button(window, model_id):
    return window.table.findChild(QPushButton, f"download:{model_id}")


def test_the_table_lists_the_catalogue_with_where_each_model_is(
    qtbot, window, add_model, weights
):
    def here():
        return models.Location(True, str(weights), weights, 3000)

    def gone():
        return models.Location(False, f"no folder {weights}-old")

    add_model(models.ModelInfo("test/here", ("test-a", "test-b"), "file", "a local one", here))
    add_model(models.ModelInfo("test/gone", ("test-a",), "file", "an old one", gone))
    shown = window()
    listed = [shown.table.item(r, 0).text() for r in range(shown.table.rowCount())]
    assert listed == [m.id for m in models.catalogue()]
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=20000)
    assert cell(shown, "test/here", "Used by") == "test-a, test-b"
    assert cell(shown, "test/here", "Status") == "present"
    assert cell(shown, "test/here", "Size") == "2.9 KB"
    assert cell(shown, "test/here", "Where") == str(weights)
    assert cell(shown, "test/gone", "Status") == "missing"
    assert cell(shown, "test/gone", "Size") == "—"
    assert cell(shown, "test/gone", "Where") == f"no folder {weights}-old"
    assert download_button(shown, "test/gone") is None  # not a hub model: nothing to fetch
    assert not shown.busy.isVisible()


def test_locating_runs_off_the_ui_thread(qtbot, window, add_model, weights):
    release = threading.Event()

    def slow():
        release.wait(20)
        return models.Location(True, str(weights), weights, 3000)

    add_model(models.ModelInfo("test/slow", ("test-a",), "file", "on a slow disk", slow))
    shown = window()
    try:
        qtbot.wait(200)  # the event loop runs while the worker waits on the disk
        assert cell(shown, "test/slow", "Status") == "checking…"
        assert shown.busy.isVisible()
        assert "Looking for the models" in shown.busy_label.text()
    finally:
        release.set()
    qtbot.waitUntil(lambda: cell(shown, "test/slow", "Status") == "present", timeout=20000)
    assert not shown.busy.isVisible()


def test_a_download_that_cannot_happen_says_why_and_leaves_the_window_usable(
    qtbot, window, add_model, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    add_model(models.hub_model(HUB_ID, ("test-a",), "a hub model nobody downloaded"))
    shown = window()
    qtbot.waitUntil(lambda: download_button(shown, HUB_ID) is not None, timeout=20000)
    assert cell(shown, HUB_ID, "Status") == "missing"
    assert cell(shown, HUB_ID, "Where") == "not in the Hugging Face cache"
    assert "sdhd models download" in item(shown, HUB_ID, "Where").toolTip()  # the whole story

    qtbot.mouseClick(download_button(shown, HUB_ID), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shown.error_box is not None, timeout=20000)
    box = shown.error_box
    assert box.text() == f"{HUB_ID} was not downloaded."
    assert "HF_HUB_OFFLINE is set" in box.informativeText()
    assert box.isVisible() and box.icon() == QMessageBox.Icon.Warning
    # The box does not hold the editor in a loop of its own; the window refreshes behind it.
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=20000)
    assert not shown.busy.isVisible()
    assert shown.refresh_button.isEnabled()
    assert download_button(shown, HUB_ID).isEnabled()
    box.button(QMessageBox.StandardButton.Close).click()
    qtbot.waitUntil(lambda: shown.error_box is None, timeout=5000)


def test_a_model_that_comes_with_a_package_cannot_be_downloaded(qtbot, window, add_model):
    def bundled():
        return models.Location(True, "inside the test wheel")

    add_model(models.ModelInfo("test-bundled", ("test-a",), "wheel", "bundled", bundled))
    shown = window()
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=20000)
    assert cell(shown, "test-bundled", "Status") == "present"
    assert download_button(shown, "test-bundled") is None


def test_refresh_looks_again_and_says_the_models_may_have_changed(
    qtbot, window, add_model, tmp_path
):
    folder = tmp_path / "copied-in"

    def copied():
        present = folder.is_dir()
        return models.Location(present, str(folder) if present else "no folder yet", None, 0)

    add_model(models.ModelInfo("test/copied", ("test-a",), "file", "copied by hand", copied))
    shown = window()
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=20000)
    assert cell(shown, "test/copied", "Status") == "missing"
    folder.mkdir()
    with qtbot.waitSignal(shown.modelsChanged, timeout=1000):
        qtbot.mouseClick(shown.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cell(shown, "test/copied", "Status") == "present", timeout=20000)
    assert cell(shown, "test/copied", "Where") == str(folder)
