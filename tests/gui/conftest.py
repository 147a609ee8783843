"""GUI tests run offscreen, on a QApplication made safe from OpenCV's Qt paths, and must leave
no thread or pool running behind them."""

from __future__ import annotations

import os
import threading

import cv2  # imported first on purpose: it sets the Qt paths the app must clear
import pytest

from sdhd_studio.gui.qt_env import clear_opencv_qt_paths

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
clear_opencv_qt_paths()


@pytest.fixture(autouse=True)
def no_threads_left_behind(qapp):
    """Every GUI test ends with only the Python threads it started with, an idle global pool
    and none of the editor's worker pools still running."""
    from PySide6.QtCore import QThreadPool

    from sdhd_studio.gui.workers import busy_pools

    before = {t.ident for t in threading.enumerate()}
    yield
    qapp.processEvents()
    assert QThreadPool.globalInstance().waitForDone(5000), "the global thread pool is still busy"
    assert not busy_pools(), "a worker pool is still running after the test"
    # Qt's own threads show up as dummies once Python code ran on them; they cannot be joined.
    leftover = [
        t for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    for thread in leftover:
        thread.join(timeout=5)
    alive = [t.name for t in leftover if t.is_alive()]
    assert not alive, f"threads still running after the test: {alive}"


@pytest.fixture
def add_backend():
    """Register test backends (`add(name, kind, factory, ...)`); they and the models they
    loaded are gone after the test."""
    from sdhd_studio.ml import registry

    added = []

    def add(name, kind="upscale", factory=None, *, uses=frozenset(), check=None,
            description=""):
        spec = registry.register(registry.BackendSpec(
            name, kind, "1", frozenset(uses), factory or (lambda runtime: None),
            description=description, check=check or (lambda settings: None),
        ))
        added.append(spec)
        return spec

    yield add
    for spec in added:
        registry._BACKENDS.pop((spec.kind, spec.name), None)
    registry.release_instances()


@pytest.fixture
def add_model():
    """Register test entries in the model catalogue; removed after the test."""
    from sdhd_studio.ml import models

    added = []

    def add(info):
        added.append(models.register_model(info))
        return info

    yield add
    for info in added:
        models._CATALOGUE.pop(info.id, None)


class SteppingUpscaler:
    """Lanczos in `steps` reported steps; holds at step `hold` until `gate` is set."""

    def __init__(self, gate: threading.Event, steps: int = 5, hold: int = 3) -> None:
        self.gate, self.steps, self.hold = gate, steps, hold

    def upscale(self, image, size, settings, cancel):
        for step in range(1, self.steps + 1):
            cancel.step(step, self.steps)
            while step == self.hold and not self.gate.wait(0.05):
                cancel.check()
        return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)


@pytest.fixture
def stepping_upscaler(add_backend):
    """The name of a registered SteppingUpscaler backend, and the gate that lets it go on
    (opened after the test; a cancelled render does not wait for it either)."""
    gate = threading.Event()
    add_backend("stepping", factory=lambda runtime: SteppingUpscaler(gate))
    yield "stepping", gate
    gate.set()


@pytest.fixture
def no_message_boxes(monkeypatch):
    """A real box would wait for a click forever offscreen: record what was asked instead."""
    from PySide6.QtWidgets import QMessageBox

    asked = []
    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(
            QMessageBox, kind,
            staticmethod(lambda parent, title, *a, k=kind, **kw: asked.append((k, title))
                         or QMessageBox.StandardButton.Discard),
        )
    return asked
