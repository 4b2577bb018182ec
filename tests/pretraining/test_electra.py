"""ELECTRA replaced-token detection: corruption, labels, gradients, fit, saving."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from conftest import NEGATIVE, POSITIVE, TINY_VOCAB
from kerasft.backbone import BackboneConfig, build_backbone
from kerasft.pretraining.electra import ElectraPretrainer, replaced_token_labels

METRICS = {
    "loss", "generator_loss", "generator_accuracy", "discriminator_loss",
    "discriminator_accuracy", "replaced_accuracy", "original_rate",
}
TARGET = 7  # the token the rigged generator always samples


def _backbone(dropout=0.0):
    return build_backbone(BackboneConfig(
        vocabulary_size=len(TINY_VOCAB), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, dropout=dropout, max_sequence_length=16,
    ))


def _original_ids(x, y, w):
    """The unmasked sequence, rebuilt in numpy from the MLM batch."""
    original = np.array(x["token_ids"], copy=True)
    for row, col in zip(*np.nonzero(np.asarray(w) > 0)):
        original[row, x["mask_positions"][row, col]] = y[row, col]
    return original


def _hand_batch():
    # Row 0: a [MASK]ed and a kept selection, one padding slot (position 0).
    # Row 1: a randomly replaced selection, and TARGET at an unselected spot.
    x = {
        "token_ids": np.array([[2, 4, 10, 4, 12, 3, 0, 0],
                               [2, 30, 15, 4, TARGET, 11, 9, 3]], "int32"),
        "segment_ids": np.zeros((2, 8), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 0, 0], [1] * 8], "int32"),
        "mask_positions": np.array([[1, 3, 0], [1, 2, 3]], "int32"),
    }
    y = np.array([[20, TARGET, 0], [21, 15, TARGET]], "int32")
    w = np.array([[1, 1, 0], [1, 1, 1]], "float32")
    return x, y, w


@pytest.fixture(scope="module")
def batches():
    from kerasft.pretraining.mlm import mlm_dataset
    from kerasft.tokenizers import TextPreprocessor

    pre = TextPreprocessor(TINY_VOCAB, sequence_length=16)
    texts = tf.data.Dataset.from_tensor_slices((POSITIVE + NEGATIVE) * 4)
    ds = mlm_dataset(texts, pre, batch_size=4, packing="pad", seed=0)
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(6)]


@pytest.fixture(scope="module")
def trained(batches):
    keras.utils.set_random_seed(0)
    backbone = _backbone()
    config_before = backbone.get_config()
    model = ElectraPretrainer(backbone, seed=0)
    model.compile(optimizer=keras.optimizers.AdamW(3e-3), jit_compile=False)
    # `compile` with no loss: the loss is the model's own.
    history = model.fit(_dataset(batches).repeat(), epochs=4, steps_per_epoch=6,
                        verbose=0)
    return model, config_before, history.history


def _dataset(batches):
    def gen():
        yield from batches
    x, y, w = batches[0]
    spec = (
        {k: tf.TensorSpec(v.shape, v.dtype) for k, v in x.items()},
        tf.TensorSpec(y.shape, y.dtype), tf.TensorSpec(w.shape, w.dtype),
    )
    return tf.data.Dataset.from_generator(gen, output_signature=spec)


def test_replaced_token_labels_ignore_equal_tokens_and_padding():
    labels = replaced_token_labels(
        [[5, 6, 7, 8]], [[5, 9, 7, 9]], np.array([[True, True, True, False]])
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(labels), [[0, 1, 0, 0]])


def test_a_sample_equal_to_the_original_is_labelled_original():
    model = ElectraPretrainer(_backbone(), seed=0)
    # Rig the generator so that it samples TARGET (almost surely) everywhere.
    bias = np.zeros(len(TINY_VOCAB), "float32")
    bias[TARGET] = 100.0
    model.generator_head._bias.assign(bias)
    x, y, w = _hand_batch()
    ids, labels = model.discriminator_inputs(x, y, w, seed=1)
    np.testing.assert_array_equal(ids, [[2, TARGET, 10, TARGET, 12, 3, 0, 0],
                                        [2, TARGET, TARGET, TARGET, TARGET, 11, 9, 3]])
    np.testing.assert_array_equal(labels, [[0, 1, 0, 0, 0, 0, 0, 0],
                                           [0, 1, 1, 0, 0, 0, 0, 0]])


def test_labels_are_where_the_sampled_tokens_differ(batches):
    model = ElectraPretrainer(_backbone(), seed=0)
    seen_replaced = 0
    for x, y, w in batches[:3]:
        ids, labels = (keras.ops.convert_to_numpy(t)
                       for t in model.discriminator_inputs(x, y, w, seed=5))
        again, _ = model.discriminator_inputs(x, y, w, seed=5)
        np.testing.assert_array_equal(ids, again)  # deterministic for a seed
        original = _original_ids(x, y, w)
        real = x["padding_mask"].astype(bool)
        np.testing.assert_array_equal(labels, ((ids != original) & real).astype(int))
        # Only real selections may change: everything else is the original.
        selected = np.zeros_like(real)
        rows, cols = np.nonzero(w > 0)
        selected[rows, x["mask_positions"][rows, cols]] = True
        np.testing.assert_array_equal(ids[~selected], original[~selected])
        assert not ids[selected].tolist().count(TINY_VOCAB.index("[MASK]"))
        seen_replaced += labels.sum()
    assert seen_replaced > 0


def _gradients(model, loss_key, x, y, w, variables):
    with tf.GradientTape() as tape:
        out = model.forward(x, y, w, training=False, seed=3)
    return tape.gradient(out[loss_key], variables)


def _norm(g):
    return 0.0 if g is None else float(tf.norm(tf.convert_to_tensor(g)))


def test_discriminator_loss_sends_no_gradient_into_the_generator(batches):
    model = ElectraPretrainer(_backbone(), seed=0)
    x, y, w = batches[0]
    generator = model.generator_weights
    assert len(generator) >= 10  # projection, blocks, head dense/LN/bias ...
    embedding = model.backbone.token_embedding.embeddings
    assert all(v is not embedding for v in generator)
    discriminator = [v for v in model.backbone.trainable_weights
                     if not v.path.startswith("pooled_dense")]
    discriminator += model.discriminator_dense.trainable_weights
    discriminator += model.discriminator_logit.trainable_weights

    rtd = _gradients(model, "discriminator_loss", x, y, w, generator)
    assert all(_norm(g) == 0.0 for g in rtd), [
        v.path for v, g in zip(generator, rtd) if _norm(g)]
    rtd = _gradients(model, "discriminator_loss", x, y, w, discriminator)
    assert all(_norm(g) > 0 for g in rtd), [
        v.path for v, g in zip(discriminator, rtd) if not _norm(g)]

    mlm = _gradients(model, "generator_loss", x, y, w, generator + [embedding])
    assert all(_norm(g) > 0 for g in mlm), [
        v.path for v, g in zip(generator, mlm) if not _norm(g)]


def test_fit_lowers_the_loss_and_evaluate_reports_every_metric(trained, batches):
    model, _, history = trained
    assert set(history) == METRICS
    assert history["loss"][-1] < history["loss"][0]
    assert history["generator_loss"][-1] < history["generator_loss"][0]

    x, y, w = batches[0]
    one = tf.data.Dataset.from_tensors(tuple(batches[0]))
    state = model.seed_generator.state.numpy()
    results = model.evaluate(one, verbose=0, return_dict=True)
    assert set(results) == METRICS
    assert 0.0 <= results["original_rate"] <= 1.0
    # Redraw the very same replacements and count them independently.
    model.seed_generator.state.assign(state)
    ids, _ = model.discriminator_inputs(x, y, w)
    real = x["padding_mask"].astype(bool)
    replaced = (keras.ops.convert_to_numpy(ids) != _original_ids(x, y, w)) & real
    assert replaced.sum() > 0
    np.testing.assert_allclose(
        results["original_rate"], 1.0 - replaced.sum() / real.sum(), rtol=1e-5)
    for name in ("generator_accuracy", "discriminator_accuracy", "replaced_accuracy"):
        assert 0.0 <= results[name] <= 1.0


def test_the_trained_discriminator_is_still_a_plain_bert_backbone(trained, batches):
    model, config_before, _ = trained
    backbone = model.backbone
    assert type(backbone) is keras_hub.models.BertBackbone
    assert backbone.get_config() == config_before
    assert {v.path.split("/")[0] for v in backbone.weights} == {
        v.path.split("/")[0] for v in _backbone().weights}
    masked_lm = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    x, _, _ = batches[0]
    assert masked_lm.predict_on_batch(x).shape == (4, 3, len(TINY_VOCAB))


def test_weights_and_config_round_trip(tmp_path, batches):
    kwargs = dict(generator_hidden_dim=8, generator_num_layers=2,
                  generator_intermediate_dim=24, generator_num_heads=2,
                  rtd_weight=20.0, seed=4)
    model = ElectraPretrainer(_backbone(), **kwargs)
    x, y, w = batches[1]
    expected = model.forward(x, y, w, seed=9)
    path = str(tmp_path / "electra.weights.h5")
    model.save_weights(path)

    other = ElectraPretrainer(_backbone(), **kwargs)
    before = other.forward(x, y, w, seed=9)
    assert not np.allclose(before["discriminator_logits"],
                           expected["discriminator_logits"])
    other.load_weights(path)
    got = other.forward(x, y, w, seed=9)
    for key in ("generator_logits", "discriminator_logits", "discriminator_ids",
                "labels", "loss"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-6, atol=1e-6)

    rebuilt = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model))
    assert type(rebuilt) is ElectraPretrainer
    for key, value in kwargs.items():
        assert getattr(rebuilt, key) == value
    assert rebuilt.backbone.get_config() == model.backbone.get_config()
    assert len(rebuilt.generator_layers) == 2
    assert rebuilt.generator_layers[0].intermediate_dim == 24
    assert [v.shape for v in rebuilt.weights] == [v.shape for v in model.weights]


def test_default_generator_sizes_and_errors():
    model = ElectraPretrainer(_backbone())
    sizes = (model.generator_hidden_dim, model.generator_num_heads,
             model.generator_num_layers, model.generator_intermediate_dim)
    assert sizes == (16, 1, 1, 64)
    # Same-shape kernels, independently initialized (not one shared draw).
    assert not np.allclose(model.generator_projection.kernel.numpy(),
                           model.discriminator_dense.kernel.numpy())
    with pytest.raises(ValueError, match="divisible by `generator_num_heads`"):
        ElectraPretrainer(_backbone(), generator_hidden_dim=10, generator_num_heads=4)


WARMUP_METRICS = {
    "loss", "generator_loss", "generator_accuracy", "discriminator_mlm_loss",
    "discriminator_mlm_accuracy",
}


def test_masked_lm_warmup_trains_the_backbone_as_a_masked_lm_then_rtd(batches):
    keras.utils.set_random_seed(0)
    model = ElectraPretrainer(_backbone(), seed=0)
    model.compile(optimizer=keras.optimizers.AdamW(3e-3), jit_compile=False)
    rtd_head = [model.discriminator_dense.kernel, model.discriminator_logit.kernel]
    shared = {id(v) for v in model.backbone.weights}  # the tied token embedding
    mlm_head = [v for v in model.discriminator_mlm_head.trainable_weights
                if id(v) not in shared]
    assert mlm_head

    def snapshot(variables):
        return [v.numpy().copy() for v in variables]

    model.masked_lm_warmup = True
    rtd_before, mlm_before = snapshot(rtd_head), snapshot(mlm_head)
    encoder_before = model.backbone.get_layer("transformer_layer_0").get_weights()[0].copy()
    warm = model.fit(_dataset(batches).repeat(), epochs=3, steps_per_epoch=6,
                     verbose=0).history
    assert set(warm) == WARMUP_METRICS
    assert warm["discriminator_mlm_loss"][-1] < warm["discriminator_mlm_loss"][0]
    # The warmup loss is the sum of the two masked-LM losses.
    np.testing.assert_allclose(
        warm["loss"], np.add(warm["generator_loss"], warm["discriminator_mlm_loss"]),
        rtol=1e-5)
    # The backbone learned; the replaced-token head got no gradient at all.
    assert not np.allclose(
        model.backbone.get_layer("transformer_layer_0").get_weights()[0], encoder_before)
    for before, v in zip(rtd_before, rtd_head):
        np.testing.assert_array_equal(before, v.numpy(), err_msg=v.path)
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(mlm_before, mlm_head))

    model.masked_lm_warmup = False
    mlm_after_warmup = snapshot(mlm_head)
    rtd = model.fit(_dataset(batches).repeat(), epochs=1, steps_per_epoch=6,
                    verbose=0).history
    assert set(rtd) == METRICS
    for before, v in zip(mlm_after_warmup, mlm_head):
        np.testing.assert_array_equal(before, v.numpy(), err_msg=v.path)
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(rtd_before, rtd_head))
    # Evaluation scores replaced-token detection in either phase.
    model.masked_lm_warmup = True
    one = tf.data.Dataset.from_tensors(tuple(batches[0]))
    assert set(model.evaluate(one, verbose=0, return_dict=True)) == METRICS
