import json

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
