"""The RNAN builder: official parameter counts, shapes, odd sizes, options, serialisation."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnan_keras
from rnan_keras.errors import ConfigError
from rnan_keras.models.config import ABLATIONS, VARIANTS
from rnan_keras.models.rnan import with_non_local_mode

TINY = {"n_feats": 8, "n_resgroups": 2}


def _randomise_non_local_w(model, seed=0):
    """The official init zeroes the non-local output conv; give it weights to test it."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if layer.name == "non_local":
            for w in layer.w.weights:
                w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_full_size_parameter_count_is_official(variant, official_dir):
    facts = json.loads((official_dir / "official_facts.json").read_text())["variants"]
    model = rnan_keras.build_model(variant)
    assert model.count_params() == facts[variant]["param_count_full"]


SIZES = {"dn_rgb": [(16, 20), (1, 6), (5, 1)], "sr_x3": [(15, 21), (1, 1), (2, 7)]}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_any_size_in_and_out(variant):
    model = rnan_keras.build_model(variant, **TINY)
    spec = VARIANTS[variant]
    fn = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, spec.n_colors])])
    for hw in SIZES.get(variant, [(15, 21)]):
        x = np.random.default_rng(0).uniform(0, 255, (1, *hw, spec.n_colors)).astype("float32")
        y = fn(x).numpy()
        assert y.shape == (1, hw[0] * spec.scale, hw[1] * spec.scale, spec.n_colors)
        assert y.dtype == np.float32 and np.isfinite(y).all()


def test_odd_size_result_matches_even_crop_away_from_border():
    # Padding the bottom/right edge only changes pixels within the receptive field of it.
    model = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=2, use_non_local=False)
    x = np.random.default_rng(0).uniform(0, 255, (1, 128, 128, 1)).astype("float32")
    full = model(x, training=False).numpy()
    odd = model(x[:, :127, :127], training=False).numpy()
    assert odd.shape == (1, 127, 127, 1)
    assert np.abs(odd - full[:, :127, :127]).max() > 0  # the pad is visible near the edge...
    # ...but the top-left corner is outside the receptive field of the padded edge.
    np.testing.assert_allclose(odd[:, :16, :16], full[:, :16, :16], atol=1e-3)


def test_dynamic_shapes_in_tf_function():
    model = rnan_keras.build_model("sr_x2", **TINY)
    fn = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    for hw in [(8, 10), (11, 7)]:
        y = fn(tf.zeros((2, *hw, 3)))
        assert tuple(y.shape) == (2, hw[0] * 2, hw[1] * 2, 3)


def test_keras_file_roundtrip_safe_mode(tmp_path):
    model = rnan_keras.build_model("sr_x3", **TINY)
    x = np.random.default_rng(0).uniform(0, 255, (1, 10, 12, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, rnan_keras.models.RNAN)
    assert loaded.rnan_config == model.rnan_config
    np.testing.assert_array_equal(loaded(x, training=False).numpy(),
                                  model(x, training=False).numpy())


def test_output_is_input_plus_residual_for_denoising():
    model = rnan_keras.build_model("dn_rgb", zero_init_tail=True, **TINY)
    assert np.abs(model.get_layer("tail").kernel.numpy()).max() == 0
    x = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model(x, training=False).numpy(), x, atol=1e-4)


# Three groups: the two non-local ones and one middle (local-mask) group, so that every
# ablation switch acts on some group.
ABLATION_SIZE = {"n_feats": 8, "n_resgroups": 3}
GROUPS = ("body_nl_low", "body_0", "body_nl_high")
# The mask each group has under each ablation (paper Table 1).
EXPECTED_MASKS = {
    "full": ("non_local", "local", "non_local"),
    "no_mask": ("none", "none", "none"),
    "local_mask_only": ("local", "local", "local"),
    "non_local_mask_only": ("non_local", "none", "non_local"),
    "no_residual_attention": ("non_local", "local", "non_local"),
}


def _group_params(model) -> dict[str, int]:
    return {g: model.get_layer(g).count_params() for g in GROUPS}


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_ablations_build_and_differ_in_size(ablation):
    assert set(EXPECTED_MASKS) == set(ABLATIONS)
    model = rnan_keras.build_model("dn_gray", ablation=ablation, **ABLATION_SIZE)
    full = rnan_keras.build_model("dn_gray", **ABLATION_SIZE)
    trunk = rnan_keras.build_model("dn_gray", ablation="no_mask", **ABLATION_SIZE)
    masks = tuple(model.get_layer(g).module_kwargs["mask"] for g in GROUPS)
    assert masks == EXPECTED_MASKS[ablation]
    # Each group costs what a group with its mask costs in the full / trunk-only model.
    cost = {"non_local": _group_params(full)["body_nl_low"],
            "local": _group_params(full)["body_0"],
            "none": _group_params(trunk)["body_0"]}
    assert cost["non_local"] > cost["local"] > cost["none"]
    assert _group_params(model) == {g: cost[m] for g, m in zip(GROUPS, masks, strict=True)}
    outside = full.count_params() - sum(_group_params(full).values())
    assert model.count_params() == outside + sum(cost[m] for m in masks)
    names = {layer.name for layer in model._flatten_layers()}
    assert ("non_local" in names) == ("non_local" in masks)
    residual = {model.get_layer(g).module_kwargs["residual_attention"] for g in GROUPS}
    assert residual == {ablation != "no_residual_attention"}
    if ablation == "no_residual_attention":
        # Same weights, different function: the ``+ x1`` of residual attention is gone.
        model.set_weights(full.get_weights())
        x = np.random.default_rng(0).uniform(0, 255, (1, 12, 12, 1)).astype("float32")
        changed = model(x, training=False).numpy() - full(x, training=False).numpy()
        assert np.abs(changed).max() > 1e-3


def test_block_count_overrides_change_parameter_count():
    a = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=3)
    b = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=3, trunk_blocks=3, post_blocks=1)
    per_rb = 2 * (8 * 8 * 9 + 8)
    # three groups, each +1 trunk block and -1 post block: same count, different structure
    assert b.count_params() == a.count_params()
    c = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=3, trunk_blocks=4)
    assert c.count_params() - a.count_params() == 3 * 2 * per_rb


def _noisy_sample(rows: slice, cols: slice, gray: bool = False, seed: int = 0) -> np.ndarray:
    """A crop of the package's sample image (mean of RGB when ``gray``) plus sigma-25 noise:
    ``(1, h, w, C)`` float32 on 0-255."""
    from rnan_keras.cli.demo import SAMPLE
    from rnan_keras.data.image_io import read_image

    clean = read_image(str(SAMPLE))[rows, cols].astype("float64")
    if gray:
        clean = clean.mean(axis=2, keepdims=True)
    noise = np.random.default_rng(seed).normal(0, 25, clean.shape)
    return (clean + noise).astype("float32")[None]


def test_with_non_local_mode_keeps_weights_and_output():
    # A trained model on a real noisy crop, so that features and attention logits are in
    # the range the model sees in use (a random init gives outputs ~1e3 and near one-hot
    # attention, where float32 round-off is amplified through exp; see the layer tests).
    model = rnan_keras.load_preset("dn_rgb_small")
    x = _noisy_sample(slice(40, 64), slice(60, 88))
    dense = with_non_local_mode(model, "dense")
    chunked = with_non_local_mode(model, "chunked", chunk_size=17)  # 17 does not divide N
    assert [w.name for w in chunked.weights] == [w.name for w in model.weights]
    for a, b in zip(chunked.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    want = dense(x, training=False).numpy()
    got = chunked(x, training=False).numpy()
    # Both paths sum the same N = H*W (full-resolution non-local block) terms in a different
    # order; float32 summation of N terms is exact to about N * eps relative.
    n = x.shape[1] * x.shape[2]
    tol = n * np.finfo(np.float32).eps * np.abs(want).max()
    assert np.abs(got - want).max() <= tol
    assert np.abs(got - x).max() > 100 * tol  # the model does change the image


def test_key_softmax_option_changes_output():
    a = rnan_keras.build_model("dn_gray", **TINY)
    _randomise_non_local_w(a)
    b = rnan_keras.build_model("dn_gray", softmax_axis="key", **TINY)
    b.set_weights(a.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (1, 12, 14, 1)).astype("float32")
    assert np.abs(a(x, training=False).numpy() - b(x, training=False).numpy()).max() > 0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"variant": "dn_cmyk"}, "unknown variant"),
        ({"variant": "dn_rgb", "n_resgroups": 1}, "n_resgroups"),
        ({"variant": "dn_rgb", "n_feets": 8}, "unknown config option"),
        ({"variant": "dn_rgb", "ablation": "nope"}, "unknown ablation"),
        ({"variant": "sr_x2", "n_colors": 1}, "SR variants"),
        ({"variant": "dn_gray", "non_local_window": -8}, "non_local_window"),
    ],
)
def test_bad_config_raises_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        rnan_keras.build_model(**kwargs)


def test_mixed_precision_keeps_float32_output():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = rnan_keras.build_model("sr_x2", **TINY)
        y = model(np.zeros((1, 8, 8, 3), "float32"))
        assert y.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------- non_local_groups (Table 7)


@pytest.mark.parametrize(
    "overrides,masks",
    [
        ({}, ("non_local", "local", "non_local")),
        ({"non_local_groups": 2}, ("non_local", "local", "non_local")),
        ({"non_local_groups": 1}, ("non_local", "local", "local")),
        ({"non_local_groups": 1, "ablation": "non_local_mask_only"},
         ("non_local", "none", "none")),
        ({"non_local_groups": 1, "use_non_local": False}, ("local", "local", "local")),
    ],
)
def test_non_local_groups_sets_which_groups_are_non_local(overrides, masks):
    model = rnan_keras.build_model("dn_rgb", **ABLATION_SIZE, **overrides)
    assert tuple(model.get_layer(g).module_kwargs["mask"] for g in GROUPS) == masks
    n_blocks = sum(1 for layer in model._flatten_layers() if layer.name == "non_local")
    assert n_blocks == masks.count("non_local")


@pytest.mark.parametrize("bad", [0, 3, "2"])
def test_non_local_groups_must_be_one_or_two(bad):
    with pytest.raises(ConfigError, match="non_local_groups"):
        rnan_keras.build_model("dn_rgb", non_local_groups=bad, **TINY)


def _predicted_params(f: int, colors: int, local_groups: int, non_local_groups: int) -> int:
    """Parameter count of a DN-style RNAN from the layer arithmetic (3x3 convs with bias)."""
    conv3 = 9 * f * f + f
    rb = 2 * conv3  # ResBlock: conv-ReLU-conv
    # mask branch: RB, stride-2 conv, 2 RBs, 6x6 transposed conv, RB, 1x1 conv
    mask = 4 * rb + conv3 + (36 * f * f + f) + (f * f + f)
    module = 1 * rb + 2 * rb + mask + 2 * rb  # pre, trunk, mask, post
    group = module + conv3  # each group ends with a 3x3 conv
    h = f // 2
    non_local = 3 * (f * h + h) + (h * f + f)  # g, theta, phi, W (1x1 convs)
    head, tail = 9 * colors * f + f, 9 * f * colors + colors
    n = local_groups + non_local_groups
    return head + n * group + non_local_groups * non_local + conv3 + tail


# The two RNAN models of the paper's Table 7 (colour denoising) as build_model options.
TABLE7 = {
    "RNAN (1LB+1NLB)": ({"n_resgroups": 2, "non_local_groups": 1}, 1, 1, 1_829_283),
    "RNAN (8LBs+2NLBs)": ({}, 8, 2, 8_959_555),
}


@pytest.mark.parametrize("name", sorted(TABLE7))
def test_table7_models_parameter_counts(name, official_dir):
    overrides, local, non_local, count = TABLE7[name]
    assert _predicted_params(64, 3, local, non_local) == count
    if overrides:
        assert rnan_keras.build_model("dn_rgb", **overrides).count_params() == count
    else:  # the default build; test_full_size_parameter_count_is_official builds it
        facts = json.loads((official_dir / "official_facts.json").read_text())["variants"]
        assert facts["dn_rgb"]["param_count_full"] == count
    # the arithmetic also holds at another width and for gray input
    small = rnan_keras.build_model("dn_gray", n_feats=8, **overrides)
    assert small.count_params() == _predicted_params(8, 1, local, non_local)


def test_one_non_local_group_drops_exactly_one_non_local_block():
    two = rnan_keras.build_model("dn_rgb", **ABLATION_SIZE)
    one = rnan_keras.build_model("dn_rgb", non_local_groups=1, **ABLATION_SIZE)
    f, h = 8, 4
    assert two.count_params() - one.count_params() == 4 * f * h + 3 * h + f
    # everything but the last group has the same weights, under the same names
    low = {w.path: w.shape for w in one.weights if not w.path.startswith("body_nl_high")}
    assert low == {w.path: w.shape for w in two.weights if not w.path.startswith("body_nl_high")}


@pytest.mark.parametrize("variant,overrides", [
    ("dn_rgb", {"non_local_groups": 1}),
    ("dn_gray", {"non_local_window": 6}),
    ("dn_gray", {"rgb_range": 1.0}),
])
def test_option_keras_file_roundtrip(variant, overrides, tmp_path):
    model = rnan_keras.build_model(variant, **overrides, **TINY)
    _randomise_non_local_w(model)
    x = np.random.default_rng(1).uniform(0, 255, (1, 14, 20, model.input_shape[-1]))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.rnan_config == model.rnan_config
    for key, value in overrides.items():
        assert getattr(loaded.rnan_config, key) == value
    if "non_local_groups" in overrides:
        assert loaded.get_layer("body_nl_high").module_kwargs["mask"] == "local"
    np.testing.assert_array_equal(loaded(x.astype("float32"), training=False).numpy(),
                                  model(x.astype("float32"), training=False).numpy())


def test_non_local_window_is_global_attention_up_to_the_window_size():
    """With 40-pixel windows a 40 x 40 input is one window, so the output is the global
    model's (what makes training on 40-pixel patches the same with and without windows):
    checked on a trained preset and a real noisy crop, so that the attention logits are in
    their real range. Larger inputs differ (a random model whose attention output counts:
    the trained presets' sigmoid masks are saturated, see scripts/mask_saturation.py)."""
    model = rnan_keras.load_preset("dn_gray_small")
    windowed = with_non_local_mode(model, window=40)
    assert windowed.rnan_config.non_local_window == 40
    assert windowed.rnan_config.non_local_mode == model.rnan_config.non_local_mode
    for a, b in zip(windowed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    small = _noisy_sample(slice(0, 40), slice(0, 40), gray=True)
    want = model(small, training=False).numpy()
    # Same sums over the same N = 40 * 40 positions (the padding adds exact zeros); float32
    # summation of N terms is exact to about N * eps relative.
    tol = small.shape[1] * small.shape[2] * np.finfo(np.float32).eps * np.abs(want).max()
    assert np.abs(windowed(small, training=False).numpy() - want).max() <= tol

    plain = rnan_keras.build_model("dn_gray", **TINY)
    _randomise_non_local_w(plain)
    x = np.random.default_rng(0).uniform(0, 1, (1, 24, 24, 1)).astype("float32")
    small_window = with_non_local_mode(plain, window=8)
    assert np.abs(small_window(x, training=False).numpy()
                  - plain(x, training=False).numpy()).max() > 0


@pytest.mark.parametrize("variant", ["dn_gray", "sr_x2"])
def test_rgb_range_is_the_scale_the_network_computes_in(variant):
    """Without masks the network is convs, ReLUs and (for SR) a mean shift and pixel
    shuffle: positively homogeneous once its biases scale with the data. So an
    ``rgb_range=1`` model whose biases are the 255 model's / 255 returns the same 0-255
    output, which checks the scaling in and out (and the mean shift's rgb_range)."""
    keras.utils.set_random_seed(0)
    a = rnan_keras.build_model(variant, ablation="no_mask", zero_init_tail=False, **TINY)
    b = rnan_keras.build_model(variant, ablation="no_mask", zero_init_tail=False,
                               rgb_range=1.0, **TINY)
    assert b.count_params() == a.count_params()
    assert [w.path for w in b.weights] == [w.path for w in a.weights]
    rng = np.random.default_rng(0)
    for wa, wb in zip(a.weights, b.weights, strict=True):
        value = rng.normal(0, 0.05, wa.shape).astype("float32")
        if wa.path.endswith("/bias") and "mean" not in wa.path:
            wa.assign(value * 255.0)
            wb.assign(value)
        elif "mean" not in wa.path:  # kernels; the mean shifts keep their rgb_range bias
            wa.assign(value)
            wb.assign(value)
    channels = a.input_shape[-1]
    x = rng.uniform(0, 255, (1, 12, 10, channels)).astype("float32")
    want, got = a(x, training=False).numpy(), b(x, training=False).numpy()
    assert got.shape == want.shape
    # float32 round-off of the same sums at scales 255 apart: about 20 conv layers of
    # 9 * 8 = 72-term sums, each exact to ~sqrt(72) * eps relative
    tol = 20 * np.sqrt(72) * np.finfo(np.float32).eps * np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    assert np.abs(want - np.resize(x, want.shape)).max() > 100 * tol  # not the identity


def test_rgb_range_must_be_positive():
    with pytest.raises(ConfigError, match="rgb_range"):
        rnan_keras.build_model("dn_gray", rgb_range=0, **TINY)
