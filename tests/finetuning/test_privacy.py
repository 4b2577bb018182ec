"""Differentially private fine-tuning: per-example clipping, the DP step's
update, noise calibration against `dp_accounting` called directly, refusals,
and one DP `finetune()` run."""

import dataclasses
import json

import dp_accounting
import keras
import numpy as np
import pytest
import tensorflow as tf
from dp_accounting.rdp import RdpAccountant

import kerasft
from kerasft.finetuning import privacy
from kerasft.finetuning.config import FinetuneConfig
from kerasft.finetuning.trainer import finetune

from conftest import tiny_sentiment_examples

# float32 gradients of a tiny model: vectorised and one-at-a-time agree to
# rounding (measured max abs difference ~6e-6).
ATOL = 1e-5


def _examples():
    return tiny_sentiment_examples()


@pytest.fixture
def model_and_batch(tiny_backbone_config, tiny_preprocessor):
    # One layer (tracing the vectorised step costs per op); no dropout, so the
    # one-at-a-time and vectorised passes see the same network.
    backbone = kerasft.build_backbone(dataclasses.replace(tiny_backbone_config, num_layers=1))
    head = kerasft.get_head("sentiment")(["negative", "positive"], pooling="mean", dropout=0.0)
    model = kerasft.TaskModel(backbone, [head], tiny_preprocessor)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=model.default_losses())
    x, y = next(iter(head.make_dataset(_examples()[4:12], tiny_preprocessor, batch_size=8)))
    return model, x, y


def _one_at_a_time(model, x, y):
    rows = []
    for i in range(int(y["sentiment"].shape[0])):
        xi = {k: v[i : i + 1] for k, v in x.items()}
        yi = {k: v[i : i + 1] for k, v in y.items()}
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=xi, y=yi, y_pred=model(xi, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        rows.append([np.zeros(v.shape) if g is None else tf.convert_to_tensor(g).numpy()
                     for g, v in zip(grads, model.trainable_variables)])
    return [np.stack(per_variable) for per_variable in zip(*rows)]


def _norms(grads):
    return np.sqrt(sum((g.reshape(len(g), -1) ** 2).sum(axis=1) for g in grads))


def test_per_example_gradients_match_one_at_a_time_and_clip(model_and_batch):
    model, x, y = model_and_batch
    grads, losses, y_pred = privacy.per_example_gradients(model, x, y)
    expected = _one_at_a_time(model, x, y)
    assert len(grads) == len(expected) == len(model.trainable_variables)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=ATOL)
    assert losses.shape == (8,) and y_pred["sentiment"].shape == (8, 2)

    norms = _norms(expected)
    clip = float(np.median(norms))  # half the examples above it, half below
    clipped, before = privacy.clip_gradients(grads, clip)
    clipped = [g.numpy() for g in clipped]
    np.testing.assert_allclose(before.numpy(), norms, rtol=1e-5)
    after = _norms(clipped)
    assert (after <= clip * (1 + 1e-6)).all()
    below, above = norms <= clip, norms > clip
    assert below.sum() >= 1 and above.sum() >= 1
    np.testing.assert_allclose(after[above], clip, rtol=1e-5)  # scaled to C exactly
    for got, want in zip(clipped, expected):
        np.testing.assert_allclose(got[below], want[below], atol=ATOL)  # untouched
        scale = (clip / norms[above]).reshape(-1, *[1] * (want.ndim - 1))
        np.testing.assert_allclose(got[above], want[above] * scale, atol=ATOL)


def _weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def test_dp_step_applies_mean_of_clipped_gradients_plus_noise(model_and_batch):
    model, x, y = model_and_batch
    expected_batch = 10  # the divisor is the expected batch size, not the 8 here
    clip = 0.05
    per_example = _one_at_a_time(model, x, y)
    norms = _norms(per_example)
    assert (norms > clip).any()
    factor = np.minimum(1.0, clip / norms)
    mean = [(g * factor.reshape(-1, *[1] * (g.ndim - 1))).sum(axis=0) / expected_batch
            for g in per_example]
    # Noise sigma: the clipped mean plus N(0, (sigma C / B)^2) per coordinate.
    sigma = 2.0
    noisy = privacy.PrivateStep(clip, sigma, expected_batch, seed=3)
    draws = []
    for _ in range(2):
        noised, _, _ = noisy.gradients(model, x, y)
        draws.append(np.concatenate([(n.numpy() - m).ravel() for n, m in zip(noised, mean)]))
    assert draws[0].size > 2000
    # The sample std of >2,000 normals is within 10% with overwhelming probability.
    std = sigma * clip / expected_batch
    for noise in draws:
        assert np.std(noise) == pytest.approx(std, rel=0.1)
        assert abs(np.mean(noise)) < 0.1 * std
    # Every call draws fresh noise (independent, not a repeated seed).
    assert abs(np.corrcoef(draws[0], draws[1])[0, 1]) < 0.1
    # Noise 0, through the train step: the SGD(0.5) weight change is -0.5 x the mean.
    before = _weights(model)
    model.dp_step = privacy.PrivateStep(clip, 0.0, expected_batch, seed=1)
    logs = model.train_step((x, y))
    for b, a, g in zip(before, _weights(model), mean):
        np.testing.assert_allclose(a - b, -0.5 * g, atol=1e-6)
    assert np.isfinite(float(logs["loss"]))


@pytest.mark.parametrize("epsilon, q, steps", [(1.0, 1024 / 8528, 27), (8.0, 0.01, 200)])
def test_calibration_round_trip_matches_dp_accounting(epsilon, q, steps):
    delta = 1e-5
    sigma = privacy.noise_multiplier_for(epsilon, delta, q, steps)
    achieved = privacy.epsilon_for(sigma, delta, q, steps)
    assert epsilon - 0.01 < achieved <= epsilon  # tight, never above the target

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    direct = RdpAccountant().compose(event).get_epsilon(delta)
    assert achieved == pytest.approx(direct, rel=1e-12)
    direct_sigma = dp_accounting.calibrate_dp_mechanism(
        RdpAccountant,
        lambda s: dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(s)), steps),
        epsilon, delta)
    assert sigma == pytest.approx(direct_sigma, abs=2e-4)
    # Less noise spends more.
    assert privacy.epsilon_for(sigma * 0.9, delta, q, steps) > epsilon


@pytest.mark.parametrize("kwargs, message", [
    (dict(epsilon=0.0), "dp_epsilon"),
    (dict(epsilon=-1.0), "dp_epsilon"),
    (dict(delta=0.01), r"dp_delta.*\(0, 1/N\)"),
    (dict(delta=0.5), "dp_delta"),
    (dict(clip_norm=0.0), "dp_clip_norm"),
    (dict(batch_size=101), "batch_size"),
])
def test_plan_refuses_unreachable_targets(kwargs, message):
    settings = dict(epsilon=1.0, delta=0.0, clip_norm=1.0, num_examples=100,
                    batch_size=10, steps=10, **{})
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        privacy.plan(settings.pop("epsilon"), settings.pop("delta"),
                     settings.pop("clip_norm"), **settings)


def test_refuses_noise_whose_epsilon_exceeds_target_and_resume(monkeypatch):
    calibrated = privacy.noise_multiplier_for(2.0, 1e-3, 0.1, 10)
    monkeypatch.setattr(privacy, "noise_multiplier_for", lambda *a: calibrated * 0.8)
    with pytest.raises(ValueError, match="above the target dp_epsilon=2.0"):
        privacy.plan(2.0, 1e-3, 1.0, num_examples=100, batch_size=10, steps=10)
    config = FinetuneConfig(train="t", validation="v", dp_epsilon=1.0)
    with pytest.raises(ValueError, match="--resume is not supported"):
        privacy.setup(config, None, None, [], None, steps_per_epoch=1, replicas=1, resume=True)
    with pytest.raises(ValueError, match="num_replicas_in_sync=2"):
        privacy.setup(config, None, None, [], None, steps_per_epoch=1, replicas=2, resume=False)


def test_empty_poisson_sample_is_a_noise_only_step(model_and_batch):
    model, x, y = model_and_batch
    empty_x = {k: v[:0] for k, v in x.items()}
    empty_y = {k: v[:0] for k, v in y.items()}
    step = privacy.PrivateStep(1.0, 1.0, 8, seed=0)
    noised, losses, _ = step.gradients(model, empty_x, empty_y)
    assert losses.shape == (0,)
    values = np.concatenate([g.numpy().ravel() for g in noised])
    assert np.isfinite(values).all() and np.std(values) == pytest.approx(1 / 8, rel=0.1)


def test_plan_defaults_and_spent_refuses_extra_steps():
    record = privacy.plan(1.0, 0.0, 1.0, num_examples=8528, batch_size=1024, steps=27)
    assert record["delta"] == 1e-5 and record["sampling_rate"] == 1024 / 8528
    assert record["epsilon"] <= 1.0
    fewer = privacy.spent(record, 9)
    assert fewer["steps"] == 9 and fewer["epsilon"] < record["epsilon"]
    with pytest.raises(ValueError, match="more than the 27"):
        privacy.spent(record, 28)
    with pytest.raises(ValueError, match="dp_epsilon"):
        FinetuneConfig(train="t", validation="v", dp_epsilon=-1.0)


def test_poisson_dataset_samples_each_step(tiny_preprocessor):
    head = kerasft.get_head("sentiment")(["negative", "positive"])
    ds = privacy.poisson_dataset(head, _examples(), tiny_preprocessor, batch_size=4, seed=0)
    sizes = [int(y["sentiment"].shape[0]) for _, y in ds]
    assert len(sizes) == int(ds.cardinality()) == 4
    assert len(set(sizes)) > 1  # sizes vary around the expected 4


@pytest.mark.large
def test_finetune_with_dp_records_privacy_and_round_trips(tiny_sentiment_files, tmp_path):
    run = tmp_path / "dp"
    config = FinetuneConfig(
        train=str(tiny_sentiment_files["train"]),
        validation=str(tiny_sentiment_files["validation"]),
        test=str(tiny_sentiment_files["test"]),
        vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, sequence_length=16, batch_size=8, pooling="mean",
        learning_rate=1e-2, epochs=2, patience=5, dp_epsilon=8.0, dp_clip_norm=0.5,
    )
    metrics = finetune(config, str(run), verbose=0)
    record = json.loads((run / "metrics.json").read_text())["privacy"]
    assert record == metrics["privacy"]
    assert record["steps"] == record["planned_steps"] == 4  # 2 epochs x 2 steps
    assert 0 < record["epsilon"] <= record["target_epsilon"] == 8.0
    assert record["delta"] == 1e-3 and record["sampling_rate"] == 0.5  # N = 16
    assert record["clip_norm"] == 0.5 and record["noise_multiplier"] > 0
    assert record["accountant"] == "rdp"
    assert json.loads((run / "config.json").read_text())["privacy"]["planned_steps"] == 4
    loaded = kerasft.load_model(str(run / "model.keras"))
    assert type(loaded) is kerasft.TaskModel and loaded.dp_step is None
    # The in-memory model's test predictions, reproduced by the loaded one.
    texts = [json.loads(line)["text"] for line in
             tiny_sentiment_files["test"].read_text().splitlines()]
    predicted = loaded.predict_text(texts)
    saved = json.loads((run / "test_predictions.json").read_text())["predicted"]
    assert list(predicted["label"]) == saved
