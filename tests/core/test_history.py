import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.errors import SettingError
from sdhd_studio.core.history import History


def test_undo_and_redo_restore_exact_states(project):
    history = History(project)
    history.apply("Set keyframe 5", edits.set_keyframe, 5, {"seed": 1})
    history.apply("Set keyframe 9", edits.set_keyframe, 9, {"seed": 2})
    after = history.project
    assert history.undo_label == "Set keyframe 9"
    history.undo()
    history.undo()
    assert history.project == project
    assert history.redo_label == "Set keyframe 5"
    history.redo()
    history.redo()
    assert history.project == after


def test_a_new_edit_clears_redo_and_no_op_edits_are_not_recorded(project):
    history = History(project)
    history.apply("a", edits.set_keyframe, 5, {"seed": 1})
    history.undo()
    history.apply("b", edits.set_keyframe, 6, {"seed": 1})
    assert history.redo_label is None
    history.apply("same again", edits.set_keyframe, 6, {"seed": 1})
    assert history.undo_label == "b"


def test_a_failed_edit_changes_nothing(project):
    history = History(project)
    with pytest.raises(SettingError):
        history.apply("bad", edits.set_keyframe, 5, {"steps": 0})
    assert history.project == project and history.undo_label is None
