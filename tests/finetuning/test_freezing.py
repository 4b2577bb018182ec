import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasft.finetuning.freezing import GradualUnfreezing
from kerasft.finetuning.freezing import freeze_backbone
from kerasft.finetuning.freezing import get_backbone
from kerasft.finetuning.freezing import linear_probe_fit
from kerasft.finetuning.freezing import two_stage_fit
from kerasft.finetuning.freezing import unfreeze_backbone
from kerasft.finetuning.freezing import unfreezing_blocks
from kerasft.optim.losses import WeightedSparseCategoricalCrossentropy
from kerasft.optim.losses import class_weights

NUM_LAYERS = 3
SEQ_LEN = 16


def _tiny_classifier():
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=NUM_LAYERS,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=SEQ_LEN,
        name="backbone",
    )
    pooled = backbone(backbone.input)["pooled_output"]
    logits = keras.layers.Dense(3, name="classifier")(pooled)
    return keras.Model(backbone.input, logits), backbone


@pytest.fixture
def model_and_backbone():
    keras.utils.set_random_seed(0)
    return _tiny_classifier()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 16
    x = {
        "token_ids": rng.integers(1, 50, (n, SEQ_LEN)).astype("int32"),
        "segment_ids": np.zeros((n, SEQ_LEN), "int32"),
        "padding_mask": np.ones((n, SEQ_LEN), "int32"),
    }
    y = rng.integers(0, 3, (n,)).astype("int32")
    return x, y


def _dataset(data):
    return tf.data.Dataset.from_tensor_slices(data).batch(8)


def _ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _snapshot(layer):
    return {v.path: np.array(v.numpy()) for v in layer.weights}


def _changed(before, after):
    return {k for k in before if not np.array_equal(before[k], after[k])}


class _SnapshotPerFit(keras.callbacks.Callback):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.fits = []

    def on_train_begin(self, logs=None):
        self.fits.append([_snapshot(self.layer)])

    def on_train_end(self, logs=None):
        self.fits[-1].append(_snapshot(self.layer))


def test_get_backbone_by_name_and_errors(model_and_backbone):
    model, backbone = model_and_backbone
    assert get_backbone(model) is backbone
    assert get_backbone(model, backbone) is backbone
    with pytest.raises(ValueError, match="`backbone` must name a sublayer"):
        get_backbone(model, "encoder")
    with pytest.raises(TypeError, match="backbone"):
        get_backbone(model, 3)


def test_unfreeze_backbone_reaches_individually_frozen_layers(model_and_backbone):
    model, backbone = model_and_backbone
    backbone.get_layer("transformer_layer_0").trainable = False
    unfreeze_backbone(model)
    assert backbone.get_layer("transformer_layer_0").trainable
    assert len(model.trainable_variables) == len(model.weights)
    freeze_backbone(model)
    assert [v.path for v in model.trainable_variables] == [
        "classifier/kernel", "classifier/bias"]


def test_linear_probe_trains_head_only(model_and_backbone, data):
    model, backbone = model_and_backbone
    x, y = data
    backbone_before = _snapshot(backbone)
    head_before = _snapshot(model.get_layer("classifier"))
    history = linear_probe_fit(
        model,
        _dataset(data),
        epochs=2,
        compile_kwargs={"optimizer": keras.optimizers.SGD(0.1), "loss": _ce()},
        verbose=0,
    )
    assert len(history.history["loss"]) == 2
    assert not backbone.trainable
    assert _changed(backbone_before, _snapshot(backbone)) == set()
    head_after = _snapshot(model.get_layer("classifier"))
    assert _changed(head_before, head_after) == set(head_before)


def test_two_stage_fit_freezes_then_fine_tunes(model_and_backbone, data):
    model, backbone = model_and_backbone
    x, y = data
    recorder = _SnapshotPerFit(backbone)
    head_recorder = _SnapshotPerFit(model.get_layer("classifier"))
    h1, h2 = two_stage_fit(
        model,
        _dataset(data),
        stage1_epochs=2,
        stage2_epochs=1,
        compile_kwargs_stage1={
            "optimizer": keras.optimizers.SGD(0.1),
            "loss": WeightedSparseCategoricalCrossentropy(
                class_weights(np.bincount(y, minlength=3) + 1)
            ),
        },
        compile_kwargs_stage2={
            "optimizer": keras.optimizers.SGD(0.05),
            "loss": _ce(),
        },
        callbacks=[recorder, head_recorder],
        verbose=0,
    )
    assert len(recorder.fits) == 2
    (s1_begin, s1_end), (s2_begin, s2_end) = recorder.fits
    assert _changed(s1_begin, s1_end) == set()
    # Every transformer kernel moves in stage 2.
    changed = _changed(s2_begin, s2_end)
    kernels = {k for k in s2_begin if "transformer_layer" in k and "kernel" in k}
    assert kernels and kernels <= changed
    (h_begin, h_end), _ = head_recorder.fits
    assert _changed(h_begin, h_end) == set(h_begin)
    assert h1.epoch == [0, 1]
    assert h2.epoch == [2]
    assert backbone.trainable


def test_two_stage_fit_rejects_bad_arguments(model_and_backbone, data):
    model, _ = model_and_backbone
    shared = keras.optimizers.Adam()
    kwargs = {"optimizer": shared, "loss": _ce()}
    with pytest.raises(ValueError, match="must not share an optimizer"):
        two_stage_fit(model, data, stage1_epochs=1, stage2_epochs=1,
                      compile_kwargs_stage1=kwargs, compile_kwargs_stage2=kwargs)
    with pytest.raises(ValueError, match="stage2_epochs"):
        two_stage_fit(model, data, stage1_epochs=1, stage2_epochs=0,
                      compile_kwargs_stage1=kwargs, compile_kwargs_stage2={})
    with pytest.raises(TypeError, match="compile_kwargs_stage1"):
        two_stage_fit(model, data, stage1_epochs=1, stage2_epochs=1,
                      compile_kwargs_stage1=None, compile_kwargs_stage2={})


def test_unfreezing_blocks_top_first(model_and_backbone):
    _, backbone = model_and_backbone
    blocks = unfreezing_blocks(backbone)
    names = [[layer.name for layer in block] for block in blocks]
    assert names == [
        ["transformer_layer_2"],
        ["transformer_layer_1"],
        ["transformer_layer_0"],
        ["token_embedding", "position_embedding", "segment_embedding",
         "embeddings_layer_norm"],
    ]
    with pytest.raises(ValueError, match="transformer_layer_"):
        unfreezing_blocks(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]))


_BLOCK_LAYERS = [
    "transformer_layer_2",
    "transformer_layer_1",
    "transformer_layer_0",
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_layer_norm",
]


def _trainable_block_layers(backbone):
    return [n for n in _BLOCK_LAYERS if backbone.get_layer(n).trainable]


class _RecordEpochs(keras.callbacks.Callback):
    """Records trainable layers and weights at each epoch's start and end."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.trainable = []
        self.begin = []
        self.end = []

    def _weights(self):
        return {
            name: _snapshot(self.backbone.get_layer(name))
            for name in _BLOCK_LAYERS + ["pooled_dense"]
        }

    def on_epoch_begin(self, epoch, logs=None):
        self.trainable.append(_trainable_block_layers(self.backbone))
        self.begin.append(self._weights())

    def on_epoch_end(self, epoch, logs=None):
        self.end.append(self._weights())


def test_gradual_unfreezing_per_epoch(model_and_backbone, data):
    model, backbone = model_and_backbone
    x, y = data
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=_ce())
    unfreeze = GradualUnfreezing()
    record = _RecordEpochs(backbone)
    model.fit(x, y, epochs=5, batch_size=8, verbose=0,
              callbacks=[unfreeze, record])

    embeddings = _BLOCK_LAYERS[3:]
    expected = [
        [],
        ["transformer_layer_2"],
        ["transformer_layer_2", "transformer_layer_1"],
        ["transformer_layer_2", "transformer_layer_1", "transformer_layer_0"],
        ["transformer_layer_2", "transformer_layer_1", "transformer_layer_0"]
        + embeddings,
    ]
    assert record.trainable == expected
    assert unfreeze.unfrozen_log == [0, 1, 2, 3, 4]
    for epoch, trainable in enumerate(expected):
        for name in _BLOCK_LAYERS:
            changed = _changed(record.begin[epoch][name], record.end[epoch][name])
            if name in trainable:
                if name.startswith("transformer"):
                    assert changed, (epoch, name)
            else:
                assert changed == set(), (epoch, name)
        # The pooler trains with the head from the first epoch.
        assert _changed(record.begin[epoch]["pooled_dense"],
                        record.end[epoch]["pooled_dense"])
    assert backbone.trainable
    assert all(backbone.get_layer(n).trainable for n in _BLOCK_LAYERS)


def test_gradual_unfreezing_every_n_steps(model_and_backbone, data):
    model, backbone = model_and_backbone
    x, y = data
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss=_ce())
    seen = []

    class RecordBatches(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(len(_trainable_block_layers(backbone)))

    model.fit(x, y, epochs=3, batch_size=8, verbose=0,
              callbacks=[GradualUnfreezing(every_n_steps=2, initial_blocks=1),
                         RecordBatches()])
    # Two steps per epoch; one more block every two steps, starting from one.
    # Counts are trainable layers: one per transformer block, 4 for embeddings.
    assert seen == [1, 1, 2, 2, 3, 3]


def test_gradual_unfreezing_after_frozen_compile(model_and_backbone, data):
    model, backbone = model_and_backbone
    x, y = data
    # Frozen at compile time is fine: the optimizer is still unbuilt.
    freeze_backbone(model)
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss=_ce())
    before = _snapshot(backbone.get_layer("transformer_layer_2"))
    unfreeze = GradualUnfreezing()
    # Blocks are counted from this fit's first epoch, not from epoch 0.
    model.fit(x, y, epochs=3, initial_epoch=1, batch_size=8, verbose=0,
              callbacks=[unfreeze])
    assert unfreeze.unfrozen_log == [0, 1]
    assert _changed(before, _snapshot(backbone.get_layer("transformer_layer_2")))
    # Training stopped with blocks still frozen; the backbone is left trainable.
    assert all(backbone.get_layer(n).trainable for n in _BLOCK_LAYERS)
    assert len(model.trainable_variables) == len(model.weights)

    # An optimizer already built on the head alone cannot thaw the backbone.
    freeze_backbone(model)
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss=_ce())
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="GradualUnfreezing needs an optimizer"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0,
                  callbacks=[GradualUnfreezing()])


def test_gradual_unfreezing_rejects_bad_arguments():
    with pytest.raises(ValueError, match="every_n_epochs"):
        GradualUnfreezing(every_n_epochs=0)
    with pytest.raises(ValueError, match="every_n_steps"):
        GradualUnfreezing(every_n_steps=0)
    with pytest.raises(ValueError, match="initial_blocks"):
        GradualUnfreezing(initial_blocks=-1)
