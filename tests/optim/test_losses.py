import keras
import numpy as np
import pytest

from kerasft.optim.losses import SparseFocalLoss
from kerasft.optim.losses import WeightedSparseCategoricalCrossentropy
from kerasft.optim.losses import class_weights


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _log_softmax(logits):
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype("float32") * 2
    labels = np.array([0, 1, 2, 3, 1, 1], "int32")
    return labels, logits


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999])
def test_effective_number_weights_match_formula(beta):
    counts = [1000, 100, 10, 1]
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    expected = np.array(raw) / sum(raw) * len(counts)
    w = class_weights(counts, method="effective_number", beta=beta)
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    assert w.sum() == pytest.approx(4.0)
    assert list(np.argsort(w)) == [0, 1, 2, 3]  # rarer classes weigh more


def test_inverse_frequency_weights_match_formula():
    w = class_weights([900, 100], method="inverse_frequency")
    # 1/900 : 1/100 = 1 : 9, scaled to sum to 2.
    np.testing.assert_allclose(w, [0.2, 1.8], rtol=1e-6)


def test_balanced_counts_give_unit_weights():
    np.testing.assert_allclose(class_weights([7, 7, 7]), [1, 1, 1], rtol=1e-6)
    np.testing.assert_allclose(class_weights([5, 50], beta=0.0), [1, 1], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"counts": [3, 0]}, "counts"),
        ({"counts": []}, "counts"),
        ({"counts": [3, 4], "beta": 1.0}, "beta"),
        ({"counts": [3, 4], "method": "sqrt"}, "method"),
    ],
)
def test_class_weights_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        class_weights(**kwargs)


def test_focal_gamma_zero_equals_cross_entropy(batch):
    labels, logits = batch
    focal = SparseFocalLoss(gamma=0.0)(labels, logits)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert _np(focal) == pytest.approx(_np(ce), rel=1e-6)


def test_focal_matches_hand_computation(batch):
    labels, logits = batch
    alpha = [0.1, 0.2, 0.3, 0.4]
    log_p = _log_softmax(logits.astype("float64"))[np.arange(6), labels]
    p = np.exp(log_p)
    per_example = -np.array(alpha)[labels] * (1 - p) ** 2 * log_p
    value = SparseFocalLoss(gamma=2.0, alpha=alpha)(labels, logits)
    assert _np(value) == pytest.approx(per_example.mean(), rel=1e-5)


def test_focal_down_weights_easy_examples():
    labels = np.array([0], "int32")
    easy = np.array([[6.0, 0.0]], "float32")
    ce = _np(SparseFocalLoss(gamma=0.0)(labels, easy))
    fl = _np(SparseFocalLoss(gamma=2.0)(labels, easy))
    assert fl < ce * 1e-4


def test_focal_from_probabilities_matches_logits(batch):
    labels, logits = batch
    probs = np.exp(_log_softmax(logits)).astype("float32")
    a = SparseFocalLoss(gamma=1.5, from_logits=False)(labels, probs)
    b = SparseFocalLoss(gamma=1.5)(labels, logits)
    assert _np(a) == pytest.approx(_np(b), rel=1e-4)


def test_weighted_ce_matches_hand_computation(batch):
    labels, logits = batch
    weights = [0.5, 1.0, 2.0, 4.0]
    log_p = _log_softmax(logits.astype("float64"))[np.arange(6), labels]
    expected = (-np.array(weights)[labels] * log_p).mean()
    value = WeightedSparseCategoricalCrossentropy(weights)(labels, logits)
    assert _np(value) == pytest.approx(expected, rel=1e-5)


def test_weighted_ce_accepts_trailing_label_axis(batch):
    labels, logits = batch
    loss = WeightedSparseCategoricalCrossentropy([1.0, 2.0, 3.0, 4.0])
    assert _np(loss(labels[:, None], logits)) == pytest.approx(
        _np(loss(labels, logits)), rel=1e-6
    )


def test_weighted_ce_token_classification_with_mask():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 5, 3)).astype("float32")
    labels = rng.integers(0, 3, size=(2, 5)).astype("int32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], "float32")
    weights = np.array([0.5, 1.0, 3.0])
    log_p = np.take_along_axis(
        _log_softmax(logits.astype("float64")), labels[..., None], -1
    )[..., 0]
    weighted = -weights[labels] * log_p * mask

    default = WeightedSparseCategoricalCrossentropy(weights)
    value = default(labels, logits, sample_weight=mask)
    # "sum_over_batch_size": divide by the number of label positions.
    assert _np(value) == pytest.approx(weighted.sum() / labels.size, rel=1e-5)

    per_token = WeightedSparseCategoricalCrossentropy(
        weights, reduction="mean_with_sample_weight"
    )
    value = per_token(labels, logits, sample_weight=mask)
    assert _np(value) == pytest.approx(weighted.sum() / mask.sum(), rel=1e-5)

    # Masked positions do not matter.
    changed = logits.copy()
    changed[0, 3:] = 100.0
    assert _np(per_token(labels, changed, sample_weight=mask)) == pytest.approx(
        weighted.sum() / mask.sum(), rel=1e-5
    )


def test_focal_token_classification_with_mask():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 4, 3)).astype("float32")
    labels = rng.integers(0, 3, size=(2, 4)).astype("int32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], "float32")
    log_p = np.take_along_axis(
        _log_softmax(logits.astype("float64")), labels[..., None], -1
    )[..., 0]
    per_token = -((1 - np.exp(log_p)) ** 2) * log_p * mask
    loss = SparseFocalLoss(gamma=2.0, reduction="mean_with_sample_weight")
    value = loss(labels, logits, sample_weight=mask)
    assert _np(value) == pytest.approx(per_token.sum() / mask.sum(), rel=1e-5)


def test_weighted_ce_rejects_wrong_number_of_weights(batch):
    labels, logits = batch
    with pytest.raises(ValueError, match="class_weights"):
        WeightedSparseCategoricalCrossentropy([1.0, 2.0])(labels, logits)
    with pytest.raises(ValueError, match="class_weights"):
        WeightedSparseCategoricalCrossentropy(None)
    with pytest.raises(ValueError, match="gamma"):
        SparseFocalLoss(gamma=-1.0)


@pytest.mark.parametrize(
    "loss",
    [
        SparseFocalLoss(gamma=1.0, alpha=[0.3, 0.7, 1.0, 2.0]),
        WeightedSparseCategoricalCrossentropy([0.3, 0.7, 1.0, 2.0]),
    ],
)
def test_loss_serialization_round_trip(loss, batch):
    labels, logits = batch
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss)
    )
    assert type(restored) is type(loss)
    assert _np(restored(labels, logits)) == pytest.approx(_np(loss(labels, logits)))


def test_losses_train_under_fit_and_save(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=SparseFocalLoss(gamma=2.0, alpha=class_weights([24, 8])),
    )
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.loss, SparseFocalLoss)
    np.testing.assert_allclose(restored.loss.alpha, class_weights([24, 8]))
