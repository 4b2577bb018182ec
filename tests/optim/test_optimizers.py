import keras
import keras_hub
import numpy as np
import pytest

from kerasft.optim import schedules
from kerasft.optim.layerwise import LayerwiseAdam
from kerasft.optim.layerwise import LayerwiseAdamW
from kerasft.optim.layerwise import LayerwiseSGD
from kerasft.optim.optimizers import make_optimizer
from kerasft.optim.optimizers import make_schedule

NUM_LAYERS = 3
SEQ_LEN = 16


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
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
    return keras.Model(backbone.input, logits)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 8
    x = {
        "token_ids": rng.integers(1, 50, (n, SEQ_LEN)).astype("int32"),
        "segment_ids": np.zeros((n, SEQ_LEN), "int32"),
        "padding_mask": np.ones((n, SEQ_LEN), "int32"),
    }
    return x, rng.integers(0, 3, (n,)).astype("int32")


def _zero_gradient_loss(y_true, y_pred):
    # Gradients exist but are all zero, so only weight decay moves weights.
    return 0.0 * keras.ops.mean(y_pred)


def _no_decay(path):
    name = path.split("/")[-1]
    return name in ("bias", "gamma", "beta")


@pytest.mark.parametrize("layerwise_decay", [None, 0.5])
def test_weight_decay_skips_layer_norm_and_bias(model, data, layerwise_decay):
    x, y = data
    lr, wd = 0.1, 0.3
    optimizer = make_optimizer(
        learning_rate=lr,
        weight_decay=wd,
        schedule="constant",
        layerwise_decay=layerwise_decay,
        num_layers=NUM_LAYERS,
    )
    # The layer-wise variant runs eagerly: Adam's graph is slow to trace and
    # the traced path of the layer-wise mixin is covered in test_layerwise.py.
    model.compile(optimizer=optimizer, loss=_zero_gradient_loss,
                  run_eagerly=layerwise_decay is not None)
    variables = model.trainable_variables
    before = {v.path: v.numpy() for v in variables}
    model.fit(x, y, batch_size=len(y), epochs=1, verbose=0)
    paths = {v.path for v in variables}
    assert "embeddings_layer_norm/gamma" in paths  # the embedding norm is checked
    for v in variables:
        if _no_decay(v.path):
            np.testing.assert_array_equal(v.numpy(), before[v.path], err_msg=v.path)
        else:
            factor = 1.0
            if layerwise_decay is not None:
                factor = optimizer.lr_multiplier(v)
            np.testing.assert_allclose(
                v.numpy(), before[v.path] * (1 - lr * factor * wd),
                rtol=1e-5, atol=1e-7, err_msg=v.path,
            )
            assert not np.array_equal(v.numpy(), before[v.path]), v.path
    if layerwise_decay is not None:
        kernel = next(
            v for v in variables
            if v.path.startswith("transformer_layer_0/") and "kernel" in v.path
        )
        assert optimizer.lr_multiplier(kernel) == pytest.approx(0.5**3)


def test_default_is_adamw_with_clipping_and_linear_warmup():
    optimizer = make_optimizer(learning_rate=3e-5, warmup_steps=10, total_steps=100)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.clipnorm == 1.0
    assert optimizer.weight_decay == pytest.approx(0.01)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, schedules.WarmupLinearDecay)
    assert schedule.get_config() == {
        "peak_learning_rate": 3e-5,
        "total_steps": 100,
        "warmup_steps": 10,
        "end_learning_rate": 0.0,
    }


@pytest.mark.parametrize(
    "name,expected",
    [
        ("linear", schedules.WarmupLinearDecay),
        ("cosine", schedules.WarmupCosineDecay),
        ("slanted_triangular", schedules.SlantedTriangular),
    ],
)
def test_schedule_by_name(name, expected):
    warmup = 0 if name == "slanted_triangular" else 5
    schedule = make_schedule(learning_rate=1e-3, schedule=name,
                             warmup_steps=warmup, total_steps=50)
    assert isinstance(schedule, expected)
    optimizer = make_optimizer(learning_rate=1e-3, schedule=name,
                               warmup_steps=warmup, total_steps=50)
    assert type(optimizer._learning_rate) is expected


def test_constant_schedule():
    assert make_schedule(learning_rate=1e-3, schedule="constant") == 1e-3
    warm = make_schedule(learning_rate=1e-3, schedule="constant", warmup_steps=4)
    assert isinstance(warm, schedules.WarmupConstant)
    optimizer = make_optimizer(learning_rate=1e-3, schedule="constant")
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(1e-3)


def test_layerwise_and_other_optimizers():
    optimizer = make_optimizer(name="adamw", total_steps=10, layerwise_decay=0.8,
                               num_layers=4, global_clipnorm=1.0, clipnorm=None)
    assert isinstance(optimizer, LayerwiseAdamW)
    assert optimizer.global_clipnorm == 1.0 and optimizer.clipnorm is None
    assert max(optimizer.lr_multipliers.values()) == pytest.approx(0.8)
    assert optimizer.weight_decay_exclusions  # saved with the config
    sgd = make_optimizer(name="sgd", learning_rate=0.1, weight_decay=None,
                         schedule="constant", momentum=0.9,
                         layerwise_decay=0.9, num_layers=2)
    assert isinstance(sgd, LayerwiseSGD) and sgd.momentum == 0.9
    assert sgd.weight_decay is None
    adam = make_optimizer(name="adam", weight_decay=0.0, total_steps=10)
    assert type(adam) is LayerwiseAdam and adam.weight_decay is None
    # AdamW without decay is Adam (Keras AdamW rejects weight_decay=None).
    no_decay = make_optimizer(weight_decay=None, total_steps=10)
    assert type(no_decay) is LayerwiseAdam and no_decay.weight_decay is None
    assert no_decay.lr_multipliers == {}


def test_config_round_trip_keeps_weight_decay_exclusions():
    optimizer = make_optimizer(total_steps=np.int64(40), warmup_steps=np.int64(4))
    assert optimizer.lr_multipliers == {}
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is LayerwiseAdamW
    assert sorted(restored.weight_decay_exclusions) == sorted(
        ["bias", "gamma", "beta", "layer_norm", "layernorm", "LayerNorm"]
    )
    gamma = keras.Variable(np.ones(3, "float32"), name="gamma")
    kernel = keras.Variable(np.ones(3, "float32"), name="kernel")
    assert not restored._use_weight_decay(gamma)
    assert restored._use_weight_decay(kernel)
    assert isinstance(restored._learning_rate, schedules.WarmupLinearDecay)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"name": "lamb", "total_steps": 10}, "`name`"),
        ({"schedule": "step", "total_steps": 10}, "`schedule`"),
        ({"schedule": "linear"}, "`total_steps` is required"),
        ({"total_steps": 10, "layerwise_decay": 0.9}, "`num_layers`"),
        ({"total_steps": 10, "global_clipnorm": 1.0}, "only one of"),
        ({"total_steps": 10, "weight_decay": -1.0}, "`weight_decay`"),
        ({"total_steps": 10, "schedule": "slanted_triangular", "warmup_steps": 2},
         "`warmup_steps`"),
    ],
)
def test_make_optimizer_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(**kwargs)
