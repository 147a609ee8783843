"""Preferences: what is stored between sessions, and the dialog that edits them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

from sdhd_studio.gui.preferences import Preferences, PreferencesDialog
from sdhd_studio.ml.runtime import Runtime


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def dialog(qtbot):
    def make(prefs):
        dialog = PreferencesDialog(prefs)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def test_compute_preferences_survive_a_restart(settings):
    prefs = Preferences(workers=3, device="cpu", tile=256, quick_preview="realtime")
    prefs.store(settings)
    settings.sync()
    loaded = Preferences.load(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert loaded == prefs
    assert loaded.runtime == Runtime("cpu", 256)


@pytest.mark.parametrize(
    ("device", "tile", "loaded"),
    [("tpu", 512, ("auto", 512)), ("cuda", 16, ("cuda", 0)), ("mps", 99999, ("mps", 0)),
     ("cpu", "big", ("cpu", 0))],
)
def test_stored_values_that_make_no_sense_fall_back_to_the_defaults(
    settings, device, tile, loaded
):
    settings.setValue("compute/device", device)
    settings.setValue("compute/tile", tile)
    prefs = Preferences.load(settings)
    assert (prefs.device, prefs.tile) == loaded
    assert prefs.runtime == Runtime(*loaded)  # always a runtime the engine accepts


def test_the_dialog_shows_and_returns_the_compute_choices(dialog):
    box = dialog(Preferences(device="mps", tile=0))
    assert box._device.currentText() == "Apple GPU (MPS)"
    assert [box._device.itemText(i) for i in range(box._device.count())] == [
        "Automatic", "CUDA GPU", "Apple GPU (MPS)", "CPU",
    ]
    assert box._tile.text() == "Automatic"
    assert "runs out of memory" in box._tile.toolTip()
    box._device.setCurrentIndex(box._device.findData("cpu"))
    box._tile.stepUp()
    assert box._tile.text() == "64 px"
    prefs = box.preferences()
    assert (prefs.device, prefs.tile) == ("cpu", 64)
    box._tile.stepDown()
    assert box._tile.text() == "Automatic" and box.preferences().tile == 0


def test_a_typed_tile_below_the_minimum_becomes_the_minimum(dialog, qtbot):
    box = dialog(Preferences(tile=512))
    assert box._tile.text() == "512 px"
    box._tile.setFocus()
    box._tile.selectAll()
    qtbot.keyClicks(box._tile, "20")
    qtbot.keyClick(box._tile, Qt.Key.Key_Return)
    assert box.preferences().tile == 64
    assert box._tile.text() == "64 px"


def test_the_render_farm_address_is_kept_and_empty_means_this_computer(settings, dialog):
    assert Preferences.load(settings).farm == ""
    box = dialog(Preferences())
    assert box._farm.placeholderText() == "This computer"
    box._farm.setText("  10.0.0.5:6379 ")
    prefs = box.preferences()
    assert prefs.farm == "10.0.0.5:6379"
    prefs.store(settings)
    settings.sync()
    assert Preferences.load(QSettings(settings.fileName(), QSettings.Format.IniFormat)) == prefs


def test_the_quick_preview_is_chosen_in_the_dialog_and_a_bad_stored_one_is_lanczos(
    dialog, settings
):
    box = dialog(Preferences())
    assert box._preview.currentData() == "lanczos"
    box._preview.setCurrentIndex(box._preview.findData("realtime"))
    assert box.preferences().quick_preview == "realtime"
    settings.setValue("preview/upscaler", "diffusion")  # never a quick preview
    assert Preferences.load(settings).quick_preview == "lanczos"
