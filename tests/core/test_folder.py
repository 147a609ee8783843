import dataclasses
import json
import os

import pytest

from sdhd_studio.core import edits
from sdhd_studio.core.errors import ProjectError
from sdhd_studio.core.folder import ProjectFolder


def test_save_and_load_round_trip(tmp_path, project):
    project = edits.set_keyframe(project, 10, {"strength": 0.5, "prompt": "film"}, ["strength"])
    project = edits.set_mask(project, 3, "d" * 64, 8, "telea")
    folder = ProjectFolder.create(tmp_path / "tape.sdhd", project)
    assert ProjectFolder(folder.path).load() == project
    assert folder.masks_dir.is_dir() and folder.cache_dir.is_dir()


def test_each_save_keeps_the_previous_version_as_backup(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    folder.save(edits.set_keyframe(project, 1, {"seed": 7}))
    assert json.loads(folder.backup_file.read_text())["keyframes"] == []
    assert not list(folder.path.glob(".*tmp"))


def test_corrupt_project_falls_back_to_backup_with_a_warning(tmp_path, project, caplog):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    newer = edits.set_keyframe(project, 1, {"seed": 7})
    folder.save(newer)
    folder.project_file.write_text('{"schema": 1, "sour')
    assert folder.load() == project
    assert "unreadable" in caplog.text and "backup" in caplog.text


def test_corrupt_project_without_backup_is_a_clear_error(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    folder.project_file.write_text("garbage")
    with pytest.raises(ProjectError, match="unreadable.*no backup"):
        folder.load()


def test_newer_schema_is_refused_not_downgraded(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    folder.save(project)
    data = json.loads(folder.project_file.read_text())
    data["schema"] = 99
    folder.project_file.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match="newer SDHD Studio"):
        folder.load()


def test_creating_over_an_existing_project_is_refused(tmp_path, project):
    ProjectFolder.create(tmp_path / "p.sdhd", project)
    with pytest.raises(ProjectError, match="already exists"):
        ProjectFolder.create(tmp_path / "p.sdhd", project)


def test_masks_are_stored_once_by_content(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    a = folder.store_mask(b"png bytes")
    assert folder.store_mask(b"png bytes") == a
    assert folder.mask_path(a).read_bytes() == b"png bytes"


def test_project_moved_together_with_its_video_finds_it(tmp_path, project):
    import dataclasses
    import shutil

    video = tmp_path / "a" / "tape.mp4"
    video.parent.mkdir()
    video.write_bytes(b"x")
    project = dataclasses.replace(project, source=dataclasses.replace(project.source,
                                                                      path=str(video)))
    ProjectFolder.create(tmp_path / "a" / "tape.sdhd", project)
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = ProjectFolder(tmp_path / "b" / "tape.sdhd").load()
    assert moved.source.path == str(tmp_path / "b" / "tape.mp4")


def test_an_autosave_newer_than_the_project_is_offered_back(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    unsaved = edits.set_keyframe(project, 5, {"seed": 9})
    folder.save_autosave(unsaved)
    assert ProjectFolder(folder.path).load() == project  # the saved project is untouched
    assert folder.load_autosave() == unsaved
    folder.discard_autosave()
    assert folder.load_autosave() is None


def test_an_autosave_older_than_the_project_is_ignored(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    folder.save_autosave(edits.set_keyframe(project, 5, {"seed": 9}))
    later = folder.project_file.stat().st_mtime_ns + 10**9
    os.utime(folder.project_file, ns=(later, later))
    assert folder.load_autosave() is None


def test_a_damaged_autosave_is_ignored_with_a_warning(tmp_path, project, caplog):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    folder.autosave_file.write_text('{"schema": 1, "sou')
    later = folder.project_file.stat().st_mtime_ns + 10**9
    os.utime(folder.autosave_file, ns=(later, later))
    assert folder.load_autosave() is None
    assert "unreadable autosave" in caplog.text


def test_copy_to_carries_the_masks(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "a.sdhd", project)
    digest = folder.store_mask(b"png bytes")
    changed = edits.set_keyframe(project, 5, {"seed": 9})
    copy = folder.copy_to(tmp_path / "b.sdhd", changed)
    assert copy.load() == changed and folder.load() == project
    assert copy.mask_path(digest).read_bytes() == b"png bytes"
    assert copy.cache_dir.is_dir()


def test_copy_to_refuses_a_folder_with_something_in_it(tmp_path, project):
    folder = ProjectFolder.create(tmp_path / "a.sdhd", project)
    (tmp_path / "b.sdhd").mkdir()
    (tmp_path / "b.sdhd" / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="not empty"):
        folder.copy_to(tmp_path / "b.sdhd", project)
    assert (tmp_path / "b.sdhd" / "notes.txt").read_text() == "mine"


def test_a_project_from_before_audio_tracks_opens_with_the_first(tmp_path, project):
    info = project.source.info
    second = dataclasses.replace(info.audio[0], index=2, language="fra")
    source = dataclasses.replace(project.source, info=dataclasses.replace(
        info, audio=(info.audio[0], second)))
    project = edits.set_output(dataclasses.replace(project, source=source), audio_track=2)
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    assert ProjectFolder(folder.path).load().output.audio_track == 2
    data = json.loads(folder.project_file.read_text())
    del data["output"]["audio_track"]
    del data["source"]["info"]["audio"][0]["language"]
    folder.project_file.write_text(json.dumps(data))
    loaded = ProjectFolder(folder.path).load()
    assert loaded.output.audio_track == 1 and loaded.source.info.audio[0].language is None


@pytest.mark.parametrize("value, message", [
    ("2", "project.output.audio_track must be an integer, got \"2\""),
    (65, "project.output.audio_track must be an integer from 1 to 64, got 65"),
])
def test_a_wrong_audio_track_in_the_document_is_refused(tmp_path, project, value, message):
    folder = ProjectFolder.create(tmp_path / "p.sdhd", project)
    data = json.loads(folder.project_file.read_text())
    data["output"]["audio_track"] = value
    folder.project_file.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=message):
        folder.load()
