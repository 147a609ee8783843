from sdhd_studio.core import edits
from sdhd_studio.core.folder import ProjectFolder
from sdhd_studio.core.recipe import recipe_key
from sdhd_studio.render.plan import Plan
from sdhd_studio.render.status import FrameState, FrameStatus, ranges

from ..core.conftest import make_source


def plan_of(project, tmp_path):
    return Plan(project, ProjectFolder(tmp_path))


def changed(a, b):
    return [i for i, (x, y) in enumerate(zip(a.keys, b.keys, strict=True)) if x != y]


def test_every_frame_has_its_own_key(tmp_path):
    plan = plan_of(edits.new_project(make_source(50)), tmp_path)
    assert len(set(plan.keys)) == 50


def test_keys_match_the_recipe_a_job_describes(tmp_path):
    project = edits.set_keyframe(edits.new_project(make_source(20)), 5, {"sharpen": 0.5})
    plan = plan_of(project, tmp_path)
    job = plan.job(7)
    assert job.key == plan.keys[7]
    recipe = {
        "v": 1, "source": project.source.fingerprint.digest, "grid": "25", "size": [1280, 720],
        "frame": 7, "inpaint": None,
        "upscale": {"backend": "lanczos", "version": "2", "settings": {"sharpen": 0.5}},
    }
    assert recipe_key(recipe) == job.key
    assert job.upscale_settings == {"sharpen": 0.5} and job.size == (1280, 720)


def test_editing_a_keyframe_dirties_exactly_the_frames_it_governs(tmp_path):
    project = edits.new_project(make_source(100))
    project = edits.set_keyframe(project, 20, {"sharpen": 0.2})
    project = edits.set_keyframe(project, 60, {"sharpen": 0.4})
    before = plan_of(project, tmp_path)
    after = plan_of(edits.set_keyframe(project, 20, {"sharpen": 0.3}), tmp_path)
    assert changed(before, after) == list(range(20, 60))


def test_a_setting_the_backend_ignores_dirties_nothing(tmp_path):
    project = edits.new_project(make_source(30))
    before = plan_of(project, tmp_path)
    after = plan_of(edits.set_keyframe(project, 10, {"prompt": "sharp film", "seed": 3}), tmp_path)
    assert changed(before, after) == []


def test_a_mask_dirties_its_frames_and_brings_in_the_inpainter(tmp_path):
    project = edits.new_project(make_source(30))
    masked = edits.set_mask(project, 10, "d" * 64, 14)
    before, after = plan_of(project, tmp_path), plan_of(masked, tmp_path)
    assert changed(before, after) == list(range(10, 15))
    job = after.job(12)
    assert job.inpainter == "telea" and job.mask.path.endswith("d" * 64 + ".png")
    assert job.inpaint_settings == {"inpaint_radius": 3}
    assert after.job(15).mask is None


def test_output_size_change_dirties_everything(tmp_path):
    project = edits.new_project(make_source(10))
    before = plan_of(project, tmp_path)
    after = plan_of(edits.set_output(project, height=1080), tmp_path)
    assert len(changed(before, after)) == 10


def test_undo_restores_the_old_keys(tmp_path):
    project = edits.new_project(make_source(10))
    edited = edits.set_keyframe(project, 0, {"upscaler": "bicubic"})
    assert plan_of(project, tmp_path).keys != plan_of(edited, tmp_path).keys
    assert plan_of(project, tmp_path).keys == plan_of(
        edits.remove_keyframe(edited, 0), tmp_path).keys


def test_status_tells_empty_dirty_done_and_failed_apart(tmp_path):
    keys = [f"k{i}" for i in range(8)]
    status = FrameStatus(keys, cached={"k0", "k1", "k5"}, rendered={0, 1, 2, 3, 5},
                         failures={"k4": "bad packet", "k5": "old failure"})
    assert [status.state(i) for i in range(8)] == [
        FrameState.DONE, FrameState.DONE, FrameState.DIRTY, FrameState.DIRTY,
        FrameState.FAILED, FrameState.DONE, FrameState.EMPTY, FrameState.EMPTY,
    ]
    assert status.errors == {4: "bad packet"}
    assert status.counts() == {"empty": 2, "dirty": 2, "queued": 0, "rendering": 0, "done": 3,
                               "failed": 1}
    assert ranges(status.todo()) == [(2, 4), (6, 7)]
