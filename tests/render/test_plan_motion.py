"""Recipes of frames made from other frames: guided frames, in-between frames, carried masks."""

from fractions import Fraction

from sdhd_studio.core import edits
from sdhd_studio.core.folder import ProjectFolder
from sdhd_studio.render.plan import Plan

from ..core.conftest import make_source


def plan_of(project, tmp_path):
    return Plan(project, ProjectFolder(tmp_path))


def changed(a, b):
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def guided(frames=33, every=8):
    project = edits.new_project(make_source(frames), settings={"mode": "guided",
                                                              "upscaler": "bicubic"})
    return edits.add_keyframes(project, every)


def test_guided_frames_take_the_fast_upscaler_and_name_their_keyframes(tmp_path):
    project = guided()
    assert [kf.frame for kf in project.keyframes] == [0, 8, 16, 24, 32]
    plan = plan_of(project, tmp_path)
    keyframe, between = plan.job(8), plan.job(11)
    assert keyframe.upscaler == "bicubic" and not keyframe.guides
    assert between.upscaler == "lanczos"
    assert [(g.index, g.key) for g in between.guides] == [(8, plan.keys[8]), (16, plan.keys[16])]
    assert between.deps == {plan.keys[8], plan.keys[16]}


def test_changing_one_keyframe_rerenders_it_and_the_frames_between_its_neighbours(tmp_path):
    project = guided()
    before = plan_of(project, tmp_path).keys
    after = plan_of(edits.set_keyframe(project, 16, {"upscaler": "lanczos"}), tmp_path).keys
    assert changed(before, after) == list(range(9, 24))  # 15 frames: 9-15, 16, 17-23


def test_the_fast_upscaler_setting_dirties_only_guided_frames(tmp_path):
    project = guided()
    before = plan_of(project, tmp_path).keys
    after = plan_of(edits.set_defaults(project, {"fast_upscaler": "bicubic"}), tmp_path).keys
    assert changed(before, after) == [i for i in range(33) if i % 8]


def test_no_detail_crosses_a_cut(tmp_path):
    project = edits.set_cut(guided(), 12)
    plan = plan_of(project, tmp_path)
    assert [g.index for g in plan.job(10).guides] == [8]
    assert [g.index for g in plan.job(13).guides] == [16]
    assert [g.index for g in plan.job(12).guides] == [16]


def test_keyframes_are_added_at_cuts_and_keep_their_settings(tmp_path):
    project = edits.set_keyframe(edits.new_project(make_source(40)), 8, {"sharpen": 0.5})
    project = edits.add_keyframes(project, 16, at_cuts=[21])
    assert [kf.frame for kf in project.keyframes] == [0, 8, 16, 21, 32]
    assert project.keyframe_at(8).settings == {"sharpen": 0.5}
    assert project.cuts == {21}


def test_doubling_adds_one_interpolation_job_per_pair(tmp_path):
    project = edits.set_output(edits.new_project(make_source(10)), fps_multiplier=2)
    plan = plan_of(project, tmp_path)
    assert len(plan.pairs) == 9 and len(plan.outputs) == 20
    pair = plan.pairs[4]
    assert (pair.index, pair.a_key, pair.b_key) == (4, plan.keys[4], plan.keys[5])
    assert [t for t, _ in pair.outputs] == [Fraction(1, 2)]
    assert plan.outputs[8:11] == [plan.keys[4], pair.outputs[0][1], plan.keys[5]]
    assert plan.outputs[-2:] == [plan.keys[9]] * 2  # the last frame is held


def test_editing_a_frame_dirties_only_the_in_betweens_next_to_it(tmp_path):
    project = edits.set_output(edits.new_project(make_source(10)), fps_multiplier=3)
    before = plan_of(project, tmp_path)
    edited = edits.set_keyframe(project, 5, {"sharpen": 0.5})
    edited = edits.set_keyframe(edited, 6, {"sharpen": 0.0})
    after = plan_of(edited, tmp_path)
    assert changed(before.keys, after.keys) == [5]
    moved = [p.index for p, q in zip(before.pairs, after.pairs, strict=True) if p.key != q.key]
    assert moved == [4, 5]


def test_a_cut_repeats_the_frame_instead_of_interpolating(tmp_path):
    project = edits.set_output(edits.new_project(make_source(10)), fps_multiplier=2)
    plan = plan_of(edits.set_cut(project, 6), tmp_path)
    assert [p.index for p in plan.pairs] == [0, 1, 2, 3, 4, 6, 7, 8]
    assert plan.outputs[10:13] == [plan.keys[5], plan.keys[5], plan.keys[6]]


def test_the_interpolator_and_flow_scale_are_in_the_in_between_recipe(tmp_path):
    project = edits.set_output(edits.new_project(make_source(6)), fps_multiplier=2)
    before = plan_of(project, tmp_path)
    after = plan_of(edits.set_defaults(project, {"flow_scale": 1.0}), tmp_path)
    assert before.keys == after.keys  # no frame's own pixels depend on it
    assert all(p.key != q.key for p, q in zip(before.pairs, after.pairs, strict=True))


def test_a_tracked_mask_has_a_recipe_per_frame(tmp_path):
    project = edits.new_project(make_source(30))
    held = edits.set_mask(project, 10, "d" * 64, 14)
    tracked = edits.set_mask(project, 10, "d" * 64, 14, track=True, start=8)
    held_plan, plan = plan_of(held, tmp_path), plan_of(tracked, tmp_path)
    assert changed(held_plan.keys, plan.keys) == [8, 9, 11, 12, 13, 14]
    masks = [plan.job(i).mask for i in range(8, 15)]
    assert masks[2].key is None and masks[2].identity == "d" * 64  # the painted frame
    carried = {m.key for m in masks if m.frame != 10}
    assert len(carried) == 6 and carried <= plan.all_keys()
    assert plan.job(15).mask is None and plan.job(7).mask is None


def test_cuts_marked_by_hand_get_keyframes_too():
    project = edits.set_cut(edits.new_project(make_source(20)), 13)
    project = edits.add_keyframes(project, 10)
    assert [kf.frame for kf in project.keyframes] == [0, 10, 13]


def test_replacing_a_weights_file_at_the_same_path_rerenders(tmp_path):
    weights = tmp_path / "flownet.pkl"
    weights.write_bytes(b"first weights")
    project = edits.set_output(edits.new_project(make_source(6)), fps_multiplier=2)
    project = edits.set_defaults(project, {"interpolator": "rife",
                                           "interpolator_model": str(weights)})
    before = plan_of(project, tmp_path)
    before_pairs = before.pairs  # in-betweens are planned on first use
    weights.write_bytes(b"other weights, same path")
    after = plan_of(project, tmp_path)
    assert before.keys == after.keys
    assert all(p.key != q.key for p, q in zip(before_pairs, after.pairs, strict=True))
