"""The masked-LM input pipeline and config of `kerasft.pretraining.mlm`."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import NEGATIVE, POSITIVE
from kerasft.pretraining.mlm import PretrainConfig, mlm_dataset

TEXTS = (POSITIVE + NEGATIVE) * 4


def _texts():
    return tf.data.Dataset.from_tensor_slices(TEXTS)


def _batches(preprocessor, n, **kwargs):
    ds = mlm_dataset(_texts(), preprocessor, batch_size=4, **kwargs)
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(n)]


# Building a pipeline traces tf.text's masking ops (seconds each), so the
# two layouts are built once per module and shared.
@pytest.fixture(scope="module")
def layouts():
    from kerasft.tokenizers import TextPreprocessor
    from conftest import TINY_VOCAB

    pre = TextPreprocessor(TINY_VOCAB, sequence_length=16)
    return pre, {
        # Whole-word masking with packing, sub-word masking with padding.
        "pack": _batches(pre, 5, packing="pack", whole_word=True),
        "pad": _batches(pre, 5, packing="pad", whole_word=False),
    }


@pytest.mark.parametrize("packing", ["pack", "pad"])
def test_batches_mask_only_real_non_special_tokens(layouts, packing):
    pre, batches = layouts
    special = {pre.pad_token_id, pre.cls_token_id, pre.sep_token_id, pre.mask_token_id}
    for x, y, w in batches[packing]:
        assert x["token_ids"].shape == (4, pre.sequence_length)
        assert x["mask_positions"].shape == y.shape == w.shape == (4, 3)
        rows = np.arange(4)[:, None]
        chosen = w > 0
        assert chosen.any(axis=1).all()  # every row has something to predict
        assert not set(y[chosen].tolist()) & special
        assert x["padding_mask"][rows, x["mask_positions"]][chosen].all()
        assert "word_ids" not in x


def test_pack_puts_more_real_tokens_in_a_batch_than_pad(layouts):
    _, batches = layouts
    real = {mode: sum(x["padding_mask"].sum() for x, _, _ in batches[mode])
            for mode in batches}
    assert real["pack"] > 1.5 * real["pad"]
    assert real["pack"] > 0.9 * 5 * 4 * 16  # packed rows are (almost) full


def test_batches_are_a_function_of_seed_and_index(tiny_preprocessor):
    """What makes `--resume` exact: batch i is the same when started at i."""
    full = _batches(tiny_preprocessor, 6, seed=3)
    resumed = _batches(tiny_preprocessor, 2, seed=3, start_batch=4)
    assert len(resumed) == len(full[4:]) == 2
    for a, b in zip(full[4:], resumed):
        tf.nest.map_structure(np.testing.assert_array_equal, a, b)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"packing": "stream"}, "`packing` must be one of"),
        ({"steps": 0}, "`steps` must be a positive int"),
        ({"mask_rate": 1.5}, "`mask_rate` must be in (0, 1)"),
        ({"warmup_steps": 10, "decay_steps": 5}, "`decay_steps` must be"),
        ({"electra_mlm_fraction": 1.0}, "`electra_mlm_fraction` must be in [0, 1)"),
    ],
)
def test_config_errors_name_the_argument(kwargs, fragment):
    with pytest.raises(ValueError, match=None) as info:
        PretrainConfig(**kwargs)
    assert fragment in str(info.value)


def test_schedule_horizon_defaults_to_the_budget():
    assert PretrainConfig(steps=50, warmup_steps=5).schedule_steps == 50
    assert PretrainConfig(steps=50, decay_steps=200).schedule_steps == 200


def test_masked_lm_head_weights_load_into_a_bare_head_of_another_name(tiny_backbone, tmp_path):
    import keras_hub

    from kerasft.pretraining.mlm import load_masked_lm_head, make_masked_lm, save_masked_lm_head

    length = 8
    inputs = {"token_ids": np.ones((1, length), "int32"), "segment_ids": np.zeros((1, length), "int32"),
              "padding_mask": np.ones((1, length), "bool")}
    positions = np.zeros((1, 2), "int32")
    masked_lm = make_masked_lm(tiny_backbone)
    masked_lm({**inputs, "mask_positions": positions})
    for v in masked_lm.masked_lm_head.weights:  # away from the initial values
        v.assign(np.random.default_rng(0).normal(size=v.shape).astype(v.dtype))
    path = str(tmp_path / "head.npz")
    save_masked_lm_head(masked_lm, path)
    head = keras_hub.layers.MaskedLMHead(
        vocabulary_size=tiny_backbone.vocabulary_size, token_embedding=tiny_backbone.token_embedding,
        intermediate_activation="gelu", name="auxiliary_mlm_head")
    head(tiny_backbone(inputs)["sequence_output"], positions)
    load_masked_lm_head(head, path)
    own = lambda layer: [v.numpy() for v in layer.weights if v.path.startswith(layer.name + "/")]
    saved, loaded = own(masked_lm.masked_lm_head), own(head)
    assert len(saved) == len(loaded) > 0
    for a, b in zip(saved, loaded):
        np.testing.assert_array_equal(a, b)
