import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasft.optim.layerwise import LayerwiseAdamW
from kerasft.optim.layerwise import LayerwiseSGD
from kerasft.optim.layerwise import layerwise_lr_multipliers
from kerasft.optim.layerwise import lr_multiplier_for
from kerasft.optim.schedules import SlantedTriangular

NUM_LAYERS = 3
DECAY = 0.5
SEQ_LEN = 16


def _expected_factor(path):
    """Head/pooler 1, layer i decay**(L-i), embeddings decay**(L+1)."""
    layer = path.split("/")[0]
    if layer.startswith("transformer_layer_"):
        return DECAY ** (NUM_LAYERS - int(layer.rsplit("_", 1)[1]))
    if layer in ("token_embedding", "position_embedding", "segment_embedding",
                 "embeddings_layer_norm"):
        return DECAY ** (NUM_LAYERS + 1)
    assert layer in ("pooled_dense", "classifier"), path
    return 1.0


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
        dropout=0.0,  # so a tape gradient equals the one `fit` uses
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
        "segment_ids": rng.integers(0, 2, (n, SEQ_LEN)).astype("int32"),
        "padding_mask": np.ones((n, SEQ_LEN), "int32"),
    }
    y = rng.integers(0, 3, (n,)).astype("int32")
    return x, y


def _ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = _ce()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    return [tf.convert_to_tensor(g).numpy() for g in grads]


def _check_updates(variables, before, grads, lr):
    checked = set()
    for v, w0, g in zip(variables, before, grads):
        factor = _expected_factor(v.path)
        delta = v.numpy() - w0
        np.testing.assert_allclose(delta, -lr * factor * g, atol=1e-5,
                                   err_msg=v.path)
        # A sharper check where the gradient is large enough to measure.
        step = -lr * g
        if np.abs(step).max() > 1e-4:
            ratio = float((delta * step).sum() / (step * step).sum())
            assert ratio == pytest.approx(factor, rel=1e-3), v.path
            checked.add(factor)
    # Every factor of the table was really exercised.
    expected = {DECAY**k for k in range(NUM_LAYERS + 2)}
    assert {round(f, 8) for f in checked} == {round(f, 8) for f in expected}


def test_multiplier_table():
    m = layerwise_lr_multipliers(NUM_LAYERS, DECAY)
    assert lr_multiplier_for("transformer_layer_2/attention/query/kernel", m) == 0.5
    assert lr_multiplier_for("transformer_layer_0/output_dense/bias", m) == 0.125
    assert lr_multiplier_for("token_embedding/embeddings", m) == 0.0625
    assert lr_multiplier_for("embeddings_layer_norm/gamma", m) == 0.0625
    assert lr_multiplier_for("pooled_dense/kernel", m) == 1.0
    assert lr_multiplier_for("classifier/kernel", m) == 1.0
    # Prefixed paths (a backbone built inside a scope) still match.
    assert lr_multiplier_for("enc/transformer_layer_1/x/kernel", m) == 0.25
    # `transformer_layer_1` must not catch `transformer_layer_10`.
    m12 = layerwise_lr_multipliers(12, 0.9)
    value = lr_multiplier_for("transformer_layer_10/a/kernel", m12)
    assert value == pytest.approx(0.9**2)


def test_sgd_one_fit_step_scales_each_layer_and_follows_callbacks(model, data):
    x, y = data
    optimizer = LayerwiseSGD(
        learning_rate=0.1,
        lr_multipliers=layerwise_lr_multipliers(NUM_LAYERS, DECAY),
    )
    model.compile(optimizer=optimizer, loss=_ce())
    variables = model.trainable_variables
    before = [v.numpy() for v in variables]
    grads = _gradients(model, x, y)
    # A learning-rate callback sets the base rate; every layer must follow.
    set_rate = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.05)
    model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0,
              callbacks=[set_rate])
    _check_updates(variables, before, grads, lr=0.05)


def test_schedule_reaches_every_layer(model, data):
    x, y = data
    schedule = SlantedTriangular(0.32, total_steps=20, cut_frac=0.1, ratio=32.0)
    optimizer = LayerwiseSGD(
        learning_rate=schedule,
        lr_multipliers=layerwise_lr_multipliers(NUM_LAYERS, DECAY),
    )
    variables = model.trainable_variables
    grads = _gradients(model, x, y)
    optimizer.build(variables)
    optimizer.iterations.assign(2)  # one step past the peak at cut=2
    lr = float(schedule(2))
    assert lr == pytest.approx(0.32)
    before = [v.numpy() for v in variables]
    optimizer.apply([tf.constant(g) for g in grads], variables)
    _check_updates(variables, before, grads, lr=lr)


def test_weight_decay_is_scaled_and_exclusions_kept():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="top"),
         keras.layers.Dense(2, name="bottom")]
    )
    optimizer = LayerwiseAdamW(
        learning_rate=0.1,
        weight_decay=0.2,
        lr_multipliers={"(^|/)bottom/": 0.25},
        weight_decay_exclusions=["bias"],
    )
    variables = model.trainable_variables
    for v in variables:
        v.assign(np.ones(v.shape, "float32"))
    zeros = [tf.zeros(v.shape) for v in variables]
    optimizer.apply(zeros, variables)
    values = {"/".join(v.path.split("/")[-2:]): v.numpy() for v in variables}
    np.testing.assert_allclose(values["top/kernel"], 1 - 0.1 * 0.2, rtol=1e-6)
    np.testing.assert_allclose(values["bottom/kernel"], 1 - 0.1 * 0.25 * 0.2,
                               rtol=1e-6)
    np.testing.assert_allclose(values["top/bias"], 1.0)
    np.testing.assert_allclose(values["bottom/bias"], 1.0)


def test_layerwise_optimizer_round_trips_through_saving(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    optimizer = LayerwiseAdamW(
        learning_rate=SlantedTriangular(1e-3, total_steps=50),
        weight_decay=0.01,
        lr_multipliers={"^d/kernel": 0.5},
        weight_decay_exclusions=["bias"],
    )
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((4, 4), "float32"), np.ones((4, 2), "float32"), verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path).optimizer
    assert isinstance(restored, LayerwiseAdamW)
    assert restored.lr_multipliers == {"^d/kernel": 0.5}
    assert restored.weight_decay_exclusions == ["bias"]
    assert isinstance(restored._learning_rate, SlantedTriangular)
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"num_layers": 0, "decay": 0.9}, ValueError),
        ({"num_layers": 3, "decay": 0.0}, ValueError),
        ({"num_layers": 3, "decay": 1.5}, ValueError),
    ],
)
def test_layerwise_lr_multipliers_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match="num_layers|decay"):
        layerwise_lr_multipliers(**kwargs)


def test_optimizer_rejects_bad_multipliers():
    with pytest.raises(ValueError, match="valid regex"):
        LayerwiseSGD(0.1, lr_multipliers={"(": 0.5})
    with pytest.raises(ValueError, match=">= 0"):
        LayerwiseSGD(0.1, lr_multipliers={"a": -1.0})
    with pytest.raises(TypeError, match="lr_multipliers"):
        LayerwiseSGD(0.1, lr_multipliers=[("a", 1.0)])
