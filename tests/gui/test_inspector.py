from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel, QStyleOptionViewItem

from sdhd_studio.core import edits
from sdhd_studio.core.project import Project
from sdhd_studio.core.source import Fingerprint, Source, VideoInfo
from sdhd_studio.gui.inspector import InspectorWidget
from sdhd_studio.ml import models, registry
from sdhd_studio.render.session import Session


@pytest.fixture
def session(tiny_clip, tmp_path):
    """24 frames at 24 fps; keyframe 4 sets guidance, keyframe 8 ramps strength to keyframe 16."""
    session = Session.create(tiny_clip, tmp_path / "p.sdhd")
    session.edit("k4", edits.set_keyframe, 4, {"guidance": 9.0})
    session.edit("k8", edits.set_keyframe, 8, {"steps": 30, "strength": 0.2}, ["strength"])
    session.edit("k16", edits.set_keyframe, 16, {"strength": 0.5})
    return session


@pytest.fixture
def inspector(qtbot):
    widget = InspectorWidget()
    qtbot.addWidget(widget)
    widget.resize(320, 800)
    widget.show()
    return widget


def record(signal) -> list[tuple]:
    calls: list[tuple] = []
    signal.connect(lambda *args: calls.append(args))
    return calls


def apply(session: Session, frame: int, values: dict) -> Project:
    """What the main window does with settingsEdited."""
    if frame == 0 and session.project.keyframe_at(0) is None:
        return session.edit("defaults", edits.set_defaults, values)
    return session.edit("keyframe", edits.set_keyframe, frame, values)


def field(widget: InspectorWidget, name: str):
    return widget._rows[name].field


def type_into_spin(qtbot, spin, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def test_a_keyframe_is_editable(inspector, session):
    inspector.show_frame(session.project, 8)
    assert inspector._frame_label.text() == "Frame 8 · 00:00.33"
    assert inspector._status_label.text() == "Keyframe"
    assert not field(inspector, "steps").spin.isReadOnly()
    assert field(inspector, "upscaler").combo.isEnabled()
    assert not field(inspector, "prompt").text.isReadOnly()
    assert inspector._remove_button.isVisible() and not inspector._add_button.isVisible()
    assert field(inspector, "steps").spin.value() == 30
    assert field(inspector, "steps").spin.text() == "30 steps"


def test_off_a_keyframe_everything_is_read_only_and_says_where_it_comes_from(
    qtbot, inspector, session
):
    inspector.show_frame(session.project, 6)
    assert inspector._status_label.text() == "Settings from keyframe 4"
    for row in inspector._rows.values():
        editor = row.field.editor
        read_only = editor.isReadOnly() if hasattr(editor, "isReadOnly") else False
        assert read_only or not editor.isEnabled(), row.field.spec.name
        assert row.ramp is None or not row.ramp.isVisible()
    assert not field(inspector, "seed").dice.isEnabled()
    assert field(inspector, "guidance").spin.value() == 9.0
    assert "Inherited from keyframe 4." in field(inspector, "guidance").spin.toolTip()
    assert "Inherited from project defaults." in field(inspector, "steps").spin.toolTip()
    assert not inspector._remove_button.isVisible()

    added = record(inspector.addKeyframeRequested)
    qtbot.mouseClick(inspector._add_button, Qt.MouseButton.LeftButton)
    assert added == [(6,)]

    inspector.show_frame(session.project, 2)
    assert inspector._status_label.text() == "Settings from project defaults"


def test_remove_keyframe_button(qtbot, inspector, session):
    removed = record(inspector.removeKeyframeRequested)
    inspector.show_frame(session.project, 16)
    qtbot.mouseClick(inspector._remove_button, Qt.MouseButton.LeftButton)
    assert removed == [(16,)]


def test_frame_0_edits_the_project_defaults(qtbot, inspector, session):
    edited = record(inspector.settingsEdited)
    inspector.show_frame(session.project, 0)
    assert inspector._frame_label.text() == "Frame 0 · 00:00.00"
    assert inspector._status_label.text() == "Project defaults (before the first keyframe)"
    steps = field(inspector, "steps").spin
    assert not steps.isReadOnly() and not steps.font().italic()

    type_into_spin(qtbot, steps, "45")
    assert edited == [(0, {"steps": 45})]
    project = apply(session, *edited[0])
    assert project.defaults["steps"] == 45
    inspector.show_frame(project, 0)
    assert steps.value() == 45
    inspector.show_frame(project, 2)  # off a keyframe, the defaults show through
    assert steps.value() == 45 and steps.isReadOnly()


def test_a_spin_box_edit_emits_once_with_frame_and_value(qtbot, inspector, session):
    edited = record(inspector.settingsEdited)
    inspector.show_frame(session.project, 8)
    steps = field(inspector, "steps").spin
    steps.setFocus()
    steps.selectAll()
    qtbot.keyClicks(steps, "123")
    assert edited == []  # not once per keystroke
    qtbot.keyClick(steps, Qt.Key.Key_Return)
    steps.clearFocus()  # focus-out after Enter: the same value, no second edit
    assert edited == [(8, {"steps": 123})]
    assert type(edited[0][1]["steps"]) is int


def test_out_of_range_values_cannot_be_entered(qtbot, inspector, session):
    edited = record(inspector.settingsEdited)
    inspector.show_frame(session.project, 8)
    type_into_spin(qtbot, field(inspector, "steps").spin, "999")  # the last 9 is refused
    assert edited == [(8, {"steps": 99})]


def test_filling_the_form_emits_nothing(inspector, session):
    edited = record(inspector.settingsEdited)
    toggled = record(inspector.interpolationToggled)
    for index in [0, 8, 9, 16, 4, 0, 23, 12]:
        inspector.show_frame(session.project, index)
    QApplication.processEvents()
    assert edited == [] and toggled == []


def test_an_unusable_backend_is_listed_disabled_with_its_reason(qtbot, session):
    spec = registry.BackendSpec(
        "test-gpu", "upscale", "1", frozenset({"prompt"}), lambda runtime: None,
        description="a learned upscaler", check=lambda settings: "needs a GPU",
    )  # fmt: skip
    registry.register(spec)
    try:
        widget = InspectorWidget()
        qtbot.addWidget(widget)
        project = session.edit("gpu", edits.set_keyframe, 16, {"upscaler": "test-gpu"})
    finally:
        registry._BACKENDS.pop(("upscale", "test-gpu"))
    combo = field(widget, "upscaler").combo
    row = combo.findData("test-gpu", Qt.ItemDataRole.UserRole)
    item = combo.model().item(row)
    assert not item.isEnabled()
    assert "needs a GPU" in item.toolTip() and "a learned upscaler" in item.toolTip()
    option = QStyleOptionViewItem()
    combo.itemDelegate().initStyleOption(option, combo.model().index(row, 0))
    assert option.text == "test-gpu  (unavailable: needs a GPU)"
    usable = combo.model().index(combo.findData("lanczos", Qt.ItemDataRole.UserRole), 0)
    assert combo.model().itemFromIndex(usable).isEnabled()
    combo.itemDelegate().initStyleOption(option, usable)
    assert option.text == "lanczos"

    widget.show()
    warning = field(widget, "upscaler").warning
    widget.show_frame(project, 16)
    assert combo.currentText() == "test-gpu"
    assert warning.isVisible() and warning.text() == "⚠ test-gpu cannot run here: needs a GPU"
    # This backend reads the prompt, so the prompt is no longer dimmed as unused.
    assert "Not used" not in widget._rows["prompt"].label.toolTip()
    widget.show_frame(project, 8)
    assert not warning.isVisible()


def test_choosing_a_backend_emits_it(qtbot, inspector, session):
    edited = record(inspector.settingsEdited)
    inspector.show_frame(session.project, 4)
    combo = field(inspector, "upscaler").combo
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Up)  # lanczos -> bicubic
    assert edited == [(4, {"upscaler": "bicubic"})]


def test_the_largest_seed_round_trips(qtbot, inspector, session):
    project = session.edit("seed", edits.set_keyframe, 8, {"seed": 2**32 - 1})
    inspector.show_frame(project, 8)
    seed = field(inspector, "seed").spin
    assert seed.text() == "4294967295"
    assert not seed.font().italic()

    edited = record(inspector.settingsEdited)
    type_into_spin(qtbot, seed, "4294967294")
    assert edited == [(8, {"seed": 4294967294})]
    project = apply(session, *edited[0])
    inspector.show_frame(project, 8)
    type_into_spin(qtbot, seed, "4294967295")
    assert edited[1] == (8, {"seed": 4294967295}) and type(edited[1][1]["seed"]) is int
    assert apply(session, *edited[1]).keyframe_at(8).settings["seed"] == 2**32 - 1


def test_random_seed(qtbot, inspector, session):
    edited = record(inspector.settingsEdited)
    inspector.show_frame(session.project, 8)
    qtbot.mouseClick(field(inspector, "seed").dice, Qt.MouseButton.LeftButton)
    [(frame, values)] = edited
    assert frame == 8 and type(values["seed"]) is int and 0 <= values["seed"] < 2**32
    assert field(inspector, "seed").spin.value() == values["seed"]


def test_set_values_are_upright_and_inherited_ones_italic(inspector, session):
    inspector.show_frame(session.project, 8)
    steps, guidance, sharpen = (field(inspector, n).spin for n in ("steps", "guidance", "sharpen"))
    assert not steps.font().italic()
    assert guidance.font().italic() and sharpen.font().italic()
    assert "Inherited from keyframe 4." in guidance.toolTip()
    assert "Inherited from project defaults." in sharpen.toolTip()
    assert "Inherited" not in steps.toolTip()
    assert field(inspector, "upscaler").combo.font().italic()

    inspector.show_frame(session.project, 4)
    assert not guidance.font().italic() and steps.font().italic()


def test_settings_the_backends_ignore_are_dimmed_but_editable(qtbot, inspector, session):
    inspector.show_frame(session.project, 8)
    prompt, sharpen = inspector._rows["prompt"], inspector._rows["sharpen"]
    assert "Not used by lanczos or telea" in prompt.label.toolTip()
    assert "Not used" not in sharpen.label.toolTip()

    def text_colour(widget):
        return widget.palette().color(QPalette.ColorRole.WindowText).name()

    assert text_colour(prompt.label) != text_colour(sharpen.label)
    assert not prompt.field.text.isReadOnly()
    edited = record(inspector.settingsEdited)
    prompt.field.text.setFocus()
    qtbot.keyClicks(prompt.field.text, "a castle")
    assert edited == []  # not per keystroke
    qtbot.keyClick(prompt.field.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert edited == [(8, {"prompt": "a castle"})]
    prompt.field.text.clearFocus()
    assert len(edited) == 1


def test_ramp_checkbox_on_a_keyframe(qtbot, inspector, session):
    toggled = record(inspector.interpolationToggled)
    inspector.show_frame(session.project, 8)
    strength, steps = inspector._rows["strength"].ramp, inspector._rows["steps"].ramp
    guidance = inspector._rows["guidance"].ramp
    assert strength.isChecked() and strength.isEnabled()
    assert not guidance.isEnabled()  # inherited here: nothing of this keyframe's to ramp
    assert "No later keyframe sets steps" in steps.toolTip()
    assert inspector._rows["seed"].ramp is None
    qtbot.mouseClick(strength, Qt.MouseButton.LeftButton)
    assert toggled == [(8, "strength", False)]


def test_a_ramping_value_shows_rounded_with_a_marker(inspector, session):
    inspector.show_frame(session.project, 11)  # 0.2 + 0.3 * 3/8 = 0.3125
    strength = inspector._rows["strength"]
    assert strength.field.spin.value() == pytest.approx(0.31)
    assert strength.marker.isVisible()
    assert not inspector._rows["steps"].marker.isVisible()
    inspector.show_frame(session.project, 17)
    assert not strength.marker.isVisible() and strength.field.spin.value() == 0.5


def test_a_refused_edit_shows_the_stored_value_again(qtbot, inspector, session):
    inspector.show_frame(session.project, 8)
    steps = field(inspector, "steps").spin
    type_into_spin(qtbot, steps, "50")
    inspector.show_frame(session.project, 8)  # the main window could not apply it
    assert steps.value() == 30


def test_uncommitted_text_goes_to_the_keyframe_it_was_typed_on(qtbot, inspector, session):
    edited = record(inspector.settingsEdited)
    inspector.show_frame(session.project, 8)
    prompt = field(inspector, "prompt").text
    prompt.setFocus()
    qtbot.keyClicks(prompt, "fog")
    inspector.show_frame(session.project, 16)  # the playhead moved; the box kept focus
    assert edited == []
    assert prompt.toPlainText() == ""
    qtbot.waitUntil(lambda: edited == [(8, {"prompt": "fog"})])
    prompt.clearFocus()
    assert len(edited) == 1


def test_typing_survives_a_refill_of_the_same_frame(qtbot, inspector, session):
    inspector.show_frame(session.project, 8)
    model = field(inspector, "model").line
    model.setFocus()
    qtbot.keyClicks(model, "my-model")
    project = session.edit("other", edits.set_keyframe, 8, {"steps": 31})
    inspector.show_frame(project, 8)
    assert model.text() == "my-model"
    assert field(inspector, "steps").spin.value() == 31


def test_the_wheel_scrolls_past_a_value_it_does_not_own(inspector, session):
    inspector.show_frame(session.project, 8)
    steps = field(inspector, "steps").spin
    inspector.setFocus()
    centre = QPointF(steps.rect().center())
    wheel = QWheelEvent(
        centre, steps.mapToGlobal(centre), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(steps, wheel)
    assert steps.value() == 30


def test_out_of_range_frames_are_clamped(inspector, session):
    inspector.show_frame(session.project, 1000)
    assert inspector._frame_label.text().startswith("Frame 23 ")
    inspector.show_frame(session.project, -5)
    assert inspector._frame_label.text().startswith("Frame 0 ")


def _long_project(frames: int) -> Project:
    info = VideoInfo(
        720, 576, Fraction(16, 15), 0, "yuv420p", "h264", Fraction(25), Fraction(25),
        Fraction(25), frames, frames / 25, 0.0, False,
    )  # fmt: skip
    return Project(Source("/nowhere.mp4", Fingerprint(1, "x", 0), info))


def test_scrubbing_through_a_long_ramp_stays_fast(inspector):
    project = _long_project(100_000)
    project = edits.set_keyframe(project, 10, {"strength": 0.1, "steps": 5}, ["strength", "steps"])
    project = edits.set_keyframe(project, 99_990, {"strength": 0.9, "steps": 150})
    for index in range(99_000, 99_200):
        inspector.show_frame(project, index)
    assert field(inspector, "steps").spin.value() == project.settings_at(99_199)["steps"]


def test_only_the_frame_number_changes_within_a_run(inspector, session):
    inspector.show_frame(session.project, 2)
    state = inspector._state
    inspector.show_frame(session.project, 3)
    assert inspector._state is state
    assert inspector._frame_label.text() == "Frame 3 · 00:00.12"


def test_timecode_has_hours_when_needed(inspector):
    project = _long_project(100_000)
    inspector.show_frame(project, 90_123)
    assert inspector._frame_label.text() == "Frame 90123 · 1:00:04.92"


@pytest.fixture
def needs_model(add_backend):
    """Backends that can run only with their model setting naming an existing folder; the
    folders each check looked at, in order."""
    looked: list[str] = []

    def check(setting):
        def reason(settings):
            folder = settings[setting]
            looked.append(folder)
            return None if folder and Path(folder).is_dir() else "its model folder is missing"
        return reason

    add_backend("test-learned", "upscale", uses={"model"}, check=check("model"))
    add_backend("test-fill", "inpaint", uses={"inpaint_model"}, check=check("inpaint_model"))
    return looked


def backend_item(widget, name, backend):
    combo = field(widget, name).combo
    return combo.model().item(combo.findData(backend, Qt.ItemDataRole.UserRole))


@pytest.mark.parametrize(
    ("name", "backend", "model"),
    [("upscaler", "test-learned", "model"), ("inpainter", "test-fill", "inpaint_model")],
)
def test_a_backend_is_usable_once_its_model_setting_names_a_present_model(
    qtbot, session, tmp_path, needs_model, name, backend, model
):
    widget = InspectorWidget()
    qtbot.addWidget(widget)
    widget.show()
    warning = field(widget, name).warning
    project = session.edit("use", edits.set_keyframe, 8, {name: backend})
    widget.show_frame(project, 8)
    assert not backend_item(widget, name, backend).isEnabled()
    assert "its model folder is missing" in backend_item(widget, name, backend).toolTip()
    assert warning.isVisible()
    assert warning.text() == f"⚠ {backend} cannot run here: its model folder is missing"

    folder = tmp_path / "weights"
    folder.mkdir()
    project = session.edit("model", edits.set_keyframe, 8, {model: str(folder)})
    widget.show_frame(project, 8)
    assert backend_item(widget, name, backend).isEnabled()
    assert not warning.isVisible()
    assert "Unavailable" not in backend_item(widget, name, backend).toolTip()

    project = session.edit("clear", edits.set_keyframe, 8, {model: ""})
    widget.show_frame(project, 8)
    assert not backend_item(widget, name, backend).isEnabled() and warning.isVisible()


def test_backend_checks_are_kept_per_model_until_forgotten(qtbot, session, tmp_path, needs_model):
    widget = InspectorWidget()
    qtbot.addWidget(widget)
    folder = tmp_path / "weights"
    project = session.edit("use", edits.set_keyframe, 8, {"upscaler": "test-learned",
                                                          "model": str(folder)})
    for index in [8, 9, 3, 0, 12, 8, 16, 23, 8]:  # across keyframes with other settings
        widget.show_frame(project, index)
    assert needs_model.count(str(folder)) == 1
    assert not backend_item(widget, "upscaler", "test-learned").isEnabled()

    folder.mkdir()  # a model arrived (a download); the window tells the inspector
    widget.forget_checks()
    widget.show_frame(project, 8)
    assert needs_model.count(str(folder)) == 2
    assert backend_item(widget, "upscaler", "test-learned").isEnabled()


def test_the_model_box_offers_the_chosen_backends_models(
    qtbot, inspector, session, needs_model, add_model, tmp_path
):
    def here():
        return models.Location(True, str(tmp_path), tmp_path, 0)

    add_model(models.ModelInfo("test/sharp-x4", ("test-learned",), "file", "sharp", here))
    add_model(models.ModelInfo("test/soft-x2", ("test-learned",), "file", "soft", here))
    add_model(models.ModelInfo("test/fill", ("test-fill",), "file", "fill", here))
    inspector.forget_checks()  # the catalogue grew after the inspector was made
    box = field(inspector, "model").combo

    def offered(combo):
        return [combo.itemText(i) for i in range(combo.count())]

    inspector.show_frame(session.project, 8)
    assert "test/sharp-x4" not in offered(box)  # lanczos has no models

    project = session.edit("use", edits.set_keyframe, 8, {"upscaler": "test-learned",
                                                          "inpainter": "test-fill"})
    inspector.show_frame(project, 8)
    assert offered(box) == ["test/sharp-x4", "test/soft-x2"]
    assert offered(field(inspector, "inpaint_model").combo) == ["test/fill"]
    assert box.currentText() == ""  # offering models chose none of them
    assert box.itemData(1, Qt.ItemDataRole.ToolTipRole) == "soft"
    # It cannot run without a model folder; the catalogue has some, so the warning links to
    # the window that lists (and downloads) them.
    warning = field(inspector, "upscaler").warning
    assert warning.isVisible() and 'href="models">Models…</a>' in warning.text()
    asked = record(inspector.modelsRequested)
    warning.linkActivated.emit("models")
    assert asked == [()]

    edited = record(inspector.settingsEdited)
    box.activated.emit(1)  # what picking it from the list does
    assert edited == [(8, {"model": "test/soft-x2"})]
    project = apply(session, *edited[0])
    inspector.show_frame(project, 8)
    assert box.currentText() == "test/soft-x2"

    line = field(inspector, "model").line  # free text: a folder of one's own
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, str(tmp_path))
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert edited[-1] == (8, {"model": str(tmp_path)})
    assert offered(box) == ["test/sharp-x4", "test/soft-x2"]  # Enter added nothing


def test_a_failing_check_is_shown_as_the_reason(qtbot, session, add_backend):
    def broken(settings):
        raise OSError("disk on fire")

    add_backend("test-broken", check=broken)
    widget = InspectorWidget()
    qtbot.addWidget(widget)
    widget.show_frame(session.project, 0)
    item = backend_item(widget, "upscaler", "test-broken")
    assert not item.isEnabled() and "disk on fire" in item.toolTip()


# --- motion settings -----------------------------------------------------------------------


def combo_names(combo) -> list[str]:
    return [combo.itemData(i, Qt.ItemDataRole.UserRole) for i in range(combo.count())]


def test_motion_settings_have_their_own_group_and_editors(inspector, session):
    inspector.show_frame(session.project, 8)
    headings = [label.text() for label in inspector.findChildren(QLabel) if label.text()]
    assert "Motion" in headings
    mode = field(inspector, "mode").combo
    assert [mode.itemText(i) for i in range(mode.count())] == ["per-frame", "guided"]
    assert mode.currentText() == "per-frame" and mode.isEnabled()
    fast = field(inspector, "fast_upscaler").combo
    assert combo_names(fast) == combo_names(field(inspector, "upscaler").combo)
    assert fast.currentText() == "lanczos"
    interpolator = field(inspector, "interpolator").combo
    assert combo_names(interpolator) == [b.name for b in registry.backends("interpolate")]
    assert {"dis", "rife"} <= set(combo_names(interpolator))
    flow = field(inspector, "flow_scale").spin
    assert (flow.minimum(), flow.maximum(), flow.value()) == (0.125, 1.0, 0.5)
    assert flow.text() == "0.500"
    fill = field(inspector, "fill_frames").spin
    assert (fill.minimum(), fill.maximum(), fill.text()) == (1, 30, "8 frames")
    model = field(inspector, "interpolator_model").line
    assert model.placeholderText() == "backend default" and not model.isReadOnly()


def test_choosing_guided_mode_emits_it_and_wakes_the_fast_upscaler(qtbot, inspector, session):
    inspector.show_frame(session.project, 8)
    fast = inspector._rows["fast_upscaler"]
    assert "Used in guided mode only" in fast.label.toolTip()
    edited = record(inspector.settingsEdited)
    mode = field(inspector, "mode").combo
    mode.setFocus()
    qtbot.keyClick(mode, Qt.Key.Key_Down)  # per-frame -> guided
    assert edited == [(8, {"mode": "guided"})]
    project = apply(session, *edited[0])
    inspector.show_frame(project, 8)
    assert mode.currentText() == "guided"
    assert "Used in guided mode only" not in fast.label.toolTip()
    assert "Not used" not in inspector._rows["flow_scale"].label.toolTip()  # guided reads it
    inspector.show_frame(project, 2)  # before the keyframe: per-frame still
    assert mode.currentText() == "per-frame" and not mode.isEnabled()


def test_the_interpolator_counts_only_when_the_output_needs_in_betweens(inspector, session):
    inspector.show_frame(session.project, 8)
    row = inspector._rows["interpolator"]
    assert "needs no in-between frames" in row.label.toolTip()
    doubled = session.edit("x2", edits.set_output, fps_multiplier=2)
    inspector.show_frame(doubled, 8)
    assert "needs no in-between frames" not in row.label.toolTip()
    assert "Not used" not in row.label.toolTip()
    same_rate = session.edit("12", edits.set_output, target_fps=Fraction(12))  # every other
    inspector.show_frame(same_rate, 8)
    assert "needs no in-between frames" in row.label.toolTip()


def test_rife_without_weights_is_listed_disabled_with_where_to_put_them(
    qtbot, session, tmp_path, monkeypatch
):
    monkeypatch.setenv("SDHD_MODELS_DIR", str(tmp_path / "models"))
    widget = InspectorWidget()
    qtbot.addWidget(widget)
    widget.show()
    project = session.edit("rife", edits.set_keyframe, 8, {"interpolator": "rife"})
    widget.show_frame(project, 8)
    item = backend_item(widget, "interpolator", "rife")
    assert not item.isEnabled() and "no RIFE weights" in item.toolTip()
    assert backend_item(widget, "interpolator", "dis").isEnabled()
    warning = field(widget, "interpolator").warning
    assert warning.isVisible()
    assert warning.text().startswith("⚠ rife cannot run here: no RIFE weights: put")

    weights = tmp_path / "models" / "rife" / "flownet.pkl"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in: the check reads no weights")
    widget.forget_checks()  # what the Models window does after a change
    widget.show_frame(project, 8)
    assert backend_item(widget, "interpolator", "rife").isEnabled() and not warning.isVisible()


def test_an_unusable_fast_upscaler_is_greyed_out_like_the_upscaler(qtbot, session, add_backend):
    add_backend("test-gpu", check=lambda settings: "needs a GPU")
    widget = InspectorWidget()
    qtbot.addWidget(widget)
    widget.show()
    project = session.edit("guided", edits.set_keyframe, 8,
                           {"mode": "guided", "fast_upscaler": "test-gpu"})
    widget.show_frame(project, 8)
    assert not backend_item(widget, "fast_upscaler", "test-gpu").isEnabled()
    assert not backend_item(widget, "upscaler", "test-gpu").isEnabled()
    warning = field(widget, "fast_upscaler").warning
    assert warning.isVisible() and warning.text() == "⚠ test-gpu cannot run here: needs a GPU"


def test_the_upscaler_list_offers_the_model_files_in_the_models_folder(
    qtbot, session, tmp_path, monkeypatch
):
    from tests.ml.upscale.test_community import save_net

    monkeypatch.setenv("SDHD_MODELS_DIR", str(tmp_path / "models"))
    folder = tmp_path / "models" / "upscalers"
    folder.mkdir(parents=True)
    tiny = save_net("esrgan-x4", folder / "4x-Tiny.pth")
    (folder / "broken.pth").write_bytes(b"nothing")
    widget = InspectorWidget()
    qtbot.addWidget(widget)
    widget.show()
    edited = record(widget.settingsEdited)
    widget.show_frame(session.project, 4)
    combo = field(widget, "upscaler").combo
    row = combo.findText("4x-Tiny — ESRGAN ×4")
    assert row >= 0 and combo.model().item(row).isEnabled()
    assert combo.model().item(row).toolTip() == str(tiny)
    broken = combo.model().item(combo.findText("broken — unusable"))
    assert not broken.isEnabled() and "cannot read weights file" in broken.toolTip()

    combo.activated.emit(row)  # what a click on the row sends (the refill then selects it)
    assert edited == [(4, {"upscaler": "model", "model": str(tiny)})]
    widget.show_frame(apply(session, 4, edited[0][1]), 4)
    assert combo.currentText() == "4x-Tiny — ESRGAN ×4"
    assert not field(widget, "upscaler").warning.isVisible()
    assert field(widget, "model").combo.currentText() == str(tiny)
