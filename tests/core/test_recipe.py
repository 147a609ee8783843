from sdhd_studio.core.recipe import canonical_json, frame_keys, recipe_key


def test_canonical_json_ignores_key_order():
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})
    assert recipe_key({"b": 1, "a": "é"}) == recipe_key({"a": "é", "b": 1})


def test_batch_frame_keys_equal_one_by_one_keys():
    recipe = {"v": 1, "source": "abc", "upscale": {"backend": "lanczos", "settings": {"s": 0.5}},
              "inpaint": None, "size": [1280, 720], "prompt": "a \"quoted\" word"}
    frames = [0, 7, 12345]
    assert list(frame_keys(recipe, frames)) == [recipe_key({**recipe, "frame": i}) for i in frames]


def test_any_recipe_change_changes_the_key():
    base = {"frame": 3, "size": [1280, 720]}
    assert recipe_key(base) != recipe_key({**base, "frame": 4})
    assert recipe_key(base) != recipe_key({**base, "size": [1280, 722]})


def test_slot_keys_equal_the_whole_recipe_key():
    from sdhd_studio.core.recipe import recipe_key, slot_keys

    recipe = {"v": 1, "interpolate": {"backend": "dis", "settings": {"flow_scale": 0.5}},
              "times": ["1/3", "2/3"]}
    key = slot_keys(recipe, "b", "a", "t")
    values = {"a": "ab" * 32, "b": "cd" * 32, "t": "1/3"}
    assert key(**values) == recipe_key({**recipe, **values})
    assert key(**{**values, "t": "2/3"}) != key(**values)
