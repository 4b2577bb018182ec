import math

import keras
import numpy as np
import pytest

from kerasft.optim.schedules import SlantedTriangular
from kerasft.optim.schedules import WarmupConstant
from kerasft.optim.schedules import WarmupCosineDecay
from kerasft.optim.schedules import WarmupLinearDecay


def _value(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def _linear_formula(step, peak, total, warmup, end):
    if step < warmup:
        return peak * step / warmup
    p = min(max((step - warmup) / (total - warmup), 0.0), 1.0)
    return end + (peak - end) * (1.0 - p)


def _cosine_formula(step, peak, total, warmup, end):
    if step < warmup:
        return peak * step / warmup
    p = min(max((step - warmup) / (total - warmup), 0.0), 1.0)
    return end + (peak - end) * 0.5 * (1.0 + math.cos(math.pi * p))


def _stlr_formula(t, max_lr, total, cut_frac, ratio):
    # Howard & Ruder 2018, eq. 3.
    cut = math.floor(total * cut_frac)
    if t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    p = max(p, 0.0)
    return max_lr * (1 + p * (ratio - 1)) / ratio


STEPS = [0, 1, 5, 9, 10, 11, 37, 50, 99, 100, 150]


@pytest.mark.parametrize("end", [0.0, 1e-4])
def test_warmup_linear_decay_matches_formula(end):
    schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10,
                                 end_learning_rate=end)
    for step in STEPS:
        expected = _linear_formula(step, 1e-3, 100, 10, end)
        assert _value(schedule, step) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert _value(schedule, 10) == pytest.approx(1e-3)
    assert _value(schedule, 100) == pytest.approx(end, abs=1e-9)


def test_warmup_linear_decay_without_warmup_starts_at_peak():
    schedule = WarmupLinearDecay(2e-3, total_steps=20)
    assert _value(schedule, 0) == pytest.approx(2e-3)
    assert _value(schedule, 5) == pytest.approx(2e-3 * 15 / 20)


@pytest.mark.parametrize("end", [0.0, 1e-5])
def test_warmup_cosine_decay_matches_formula(end):
    schedule = WarmupCosineDecay(1e-3, total_steps=100, warmup_steps=10,
                                 end_learning_rate=end)
    for step in STEPS:
        expected = _cosine_formula(step, 1e-3, 100, 10, end)
        assert _value(schedule, step) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert _value(schedule, 55) == pytest.approx(end + (1e-3 - end) / 2, rel=1e-5)


@pytest.mark.parametrize("cut_frac,ratio", [(0.1, 32.0), (0.25, 8.0)])
def test_slanted_triangular_matches_formula(cut_frac, ratio):
    schedule = SlantedTriangular(0.01, total_steps=100, cut_frac=cut_frac,
                                 ratio=ratio)
    for step in STEPS:
        expected = _stlr_formula(step, 0.01, 100, cut_frac, ratio)
        assert _value(schedule, step) == pytest.approx(expected, rel=1e-5)
    cut = math.floor(100 * cut_frac)
    assert _value(schedule, cut) == pytest.approx(0.01)
    assert _value(schedule, 0) == pytest.approx(0.01 / ratio)


def test_warmup_constant():
    schedule = WarmupConstant(1e-3, warmup_steps=4)
    values = [_value(schedule, s) for s in range(7)]
    np.testing.assert_allclose(values, [0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3],
                               rtol=1e-6)


@pytest.mark.parametrize(
    "schedule",
    [
        WarmupLinearDecay(1e-3, total_steps=50, warmup_steps=5, end_learning_rate=1e-5),
        WarmupCosineDecay(1e-3, total_steps=50, warmup_steps=5),
        SlantedTriangular(1e-2, total_steps=50, cut_frac=0.2, ratio=10.0),
        WarmupConstant(1e-3, warmup_steps=3),
    ],
)
def test_schedule_serialization_round_trip(schedule):
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    for step in [0, 2, 7, 30]:
        assert _value(restored, step) == pytest.approx(_value(schedule, step))


def test_schedule_drives_optimizer_in_fit():
    schedule = WarmupLinearDecay(0.1, total_steps=8, warmup_steps=4)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate)))

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[Record()])
    expected = [_linear_formula(s, 0.1, 8, 4, 0.0) for s in range(8)]
    np.testing.assert_allclose(seen, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "factory,message",
    [
        (lambda: WarmupLinearDecay(1e-3, total_steps=0), "total_steps"),
        (lambda: WarmupLinearDecay(1e-3, total_steps=10, warmup_steps=10),
         "warmup_steps"),
        (lambda: WarmupCosineDecay(1e-3, total_steps=10, end_learning_rate=1.0),
         "end_learning_rate"),
        (lambda: SlantedTriangular(1e-3, total_steps=5, cut_frac=0.1), "cut_frac"),
        (lambda: SlantedTriangular(1e-3, total_steps=100, ratio=0.5), "ratio"),
        (lambda: WarmupConstant(0.0), "learning_rate"),
    ],
)
def test_schedule_rejects_bad_arguments(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()
