"""Every fine-tuning strategy, through `finetune()` and through plain `model.fit`."""

import json

import keras
import numpy as np
import pytest

import kerasft
from kerasft.backbone import save_backbone
from kerasft.finetuning.freezing import GradualUnfreezing, linear_probe_fit, two_stage_fit
from kerasft.optim.optimizers import make_optimizer
from kerasft.finetuning.callbacks import HeadMetricsCallback
from kerasft.finetuning.config import FinetuneConfig
from kerasft.finetuning.trainer import finetune, make_loss

TINY = dict(
    vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    intermediate_dim=32, sequence_length=16, batch_size=8, pooling="mean",
    learning_rate=1e-2, stage1_learning_rate=1e-2,
)


def _config(files, **overrides):
    return FinetuneConfig(
        train=str(files["train"]), validation=str(files["validation"]),
        test=str(files["test"]), **{**TINY, **overrides},
    )


def _read(run_dir, name):
    return json.loads((run_dir / name).read_text())


def _backbone_weights(model):
    backbone = getattr(model, "backbone", model)
    return [np.array(w) for w in backbone.weights]


@pytest.mark.large
def test_two_stage_class_balanced_early_stops_on_macro_f1(tiny_sentiment_files, tmp_path):
    run = tmp_path / "two_stage"
    metrics = finetune(
        _config(tiny_sentiment_files, strategy="two_stage", epochs=3, stage1_epochs=1,
                stage1_loss="class_balanced", schedule="slanted_triangular",
                layerwise_decay=0.5, monitor="macro_f1", patience=5,
                batch_size=2),  # slanted triangular needs >= 10 steps
        str(run), verbose=0,
    )
    config = _read(run, "config.json")
    assert config["strategy"] == "two_stage" and config["stage1_loss"] == "class_balanced"
    assert config["schedule"] == "slanted_triangular" and config["layerwise_decay"] == 0.5
    assert config["stage1_class_weights"] == [1.0, 1.0]  # balanced tiny data
    assert sorted(config["layerwise_lr_multipliers"].values()) == [0.125, 0.25, 0.5]
    history = _read(run, "history.json")
    assert history["stage"] == [1, 2, 2]
    assert len(history["val_macro_f1"]) == 3  # the head's metric, every epoch
    assert metrics["strategy"] == "two_stage" and "macro_f1" in metrics["test"]


@pytest.mark.large
def test_linear_probe_keeps_backbone_and_init_model_starts_from_it(
    tiny_sentiment_files, tiny_backbone, tiny_preprocessor, tmp_path
):
    save_backbone(tiny_backbone, tiny_preprocessor, tmp_path / "backbone")
    before = _backbone_weights(tiny_backbone)
    probe = tmp_path / "probe"
    finetune(
        _config(tiny_sentiment_files, backbone=str(tmp_path / "backbone"),
                strategy="linear_probe", epochs=2, loss="inverse_frequency"),
        str(probe), verbose=0,
    )
    probed = kerasft.load_model(str(probe / "model.keras"))
    # Per-example test predictions, for paired comparisons, match the report.
    predictions = _read(probe, "test_predictions.json")
    gold, predicted = predictions["gold"], predictions["predicted"]
    assert len(gold) == len(predicted) == 16 and set(predicted) <= {"negative", "positive"}
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
    assert accuracy == pytest.approx(_read(probe, "metrics.json")["test"]["accuracy"])
    assert len(before) == len(_backbone_weights(probed)) > 0
    for a, b in zip(before, _backbone_weights(probed)):
        np.testing.assert_array_equal(a, b)
    assert probed.backbone.trainable  # saved ready for further training

    # Intermediate fine-tuning from the probe's model; probing again keeps
    # the starting backbone visible in the result.
    second = tmp_path / "second"
    finetune(
        _config(tiny_sentiment_files, init_model=str(probe), epochs=1,
                strategy="linear_probe", sequence_length=12),
        str(second), verbose=0,
    )
    config = _read(second, "config.json")
    assert config["init_model"] == str(probe)
    assert (second / "vocab.txt").read_text() == (probe / "vocab.txt").read_text()
    started = kerasft.load_model(str(second / "model.keras"))
    assert started.preprocessor.sequence_length == 12
    assert len(before) == len(_backbone_weights(started)) > 0
    for a, b in zip(before, _backbone_weights(started)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"strategy": "lp"}, "`strategy` must be one of"),
        ({"loss": "dice"}, "`loss` must be one of"),
        ({"strategy": "two_stage", "stage1_epochs": 3, "epochs": 3}, "`stage1_epochs`"),
        ({"layerwise_decay": 0.0}, "`layerwise_decay`"),
        ({"backbone": "a", "init_model": "b"}, "only one of `backbone` and `init_model`"),
    ],
)
def test_bad_strategy_settings_are_clear_errors(tiny_sentiment_files, overrides, fragment):
    with pytest.raises(ValueError, match=fragment):
        _config(tiny_sentiment_files, **overrides)


def test_unknown_init_model_is_a_clear_error(tiny_sentiment_files, tmp_path):
    with pytest.raises(ValueError, match="`init_model` must be a fine-tuned"):
        finetune(_config(tiny_sentiment_files, init_model=str(tmp_path / "none")),
                 str(tmp_path / "run"), verbose=0)


# --- the same strategies with plain Keras `model.fit` ------------------------

def _examples():
    from conftest import tiny_sentiment_examples

    return tiny_sentiment_examples()


def _dataset(model, examples):
    return model.heads[0].make_dataset(
        examples, model.preprocessor, batch_size=8, shuffle=True, seed=0
    )


def test_model_fit_linear_probe_with_macro_f1_early_stopping(tiny_sentiment_model):
    model, examples = tiny_sentiment_model, _examples()
    before = _backbone_weights(model)
    stop = keras.callbacks.EarlyStopping(
        "val_macro_f1", mode="max", patience=3, restore_best_weights=True
    )
    history = linear_probe_fit(
        model, _dataset(model, examples), epochs=2, verbose=0,
        compile_kwargs={"optimizer": keras.optimizers.Adam(1e-2),
                        "loss": model.default_losses()},
        callbacks=[HeadMetricsCallback("sentiment", examples), stop],
    )
    assert len(history.history["val_macro_f1"]) == 2
    assert len(before) == len(_backbone_weights(model)) > 0
    for a, b in zip(before, _backbone_weights(model)):
        np.testing.assert_array_equal(a, b)


def test_head_metric_monitor_typo_is_a_clear_error(tiny_sentiment_model):
    model, examples = tiny_sentiment_model, _examples()
    with pytest.raises(ValueError, match="available: .*'macro_f1'"):
        model.fit(_dataset(model, examples), epochs=1, verbose=0, callbacks=[
            HeadMetricsCallback("sentiment", examples, monitor="val_macro_f")])


def test_model_fit_two_stage_with_class_balanced_stage1(tiny_sentiment_model):
    model, examples = tiny_sentiment_model, _examples()
    head = model.heads[0]
    loss, weights = make_loss("class_balanced", head, examples[:10])  # 8 pos, 2 neg
    assert weights[0] > weights[1]  # the rarer negative class weighs more
    h1, h2 = two_stage_fit(
        model, _dataset(model, examples), stage1_epochs=1, stage2_epochs=1, verbose=0,
        compile_kwargs_stage1={"optimizer": keras.optimizers.Adam(1e-2),
                               "loss": {head.name: loss}},
        compile_kwargs_stage2={"optimizer": make_optimizer(learning_rate=1e-3,
                                                           total_steps=2),
                               "loss": model.default_losses()},
    )
    assert len(h1.history["loss"]) == 1 and len(h2.history["loss"]) == 1


def test_model_fit_gradual_unfreezing_and_layerwise_decay(tiny_sentiment_model):
    model, examples = tiny_sentiment_model, _examples()
    optimizer = make_optimizer(learning_rate=1e-3, schedule="cosine", total_steps=6,
                               warmup_steps=1, layerwise_decay=0.5, num_layers=2)
    model.compile(optimizer=optimizer, loss=model.default_losses())
    unfreezing = GradualUnfreezing()
    model.fit(_dataset(model, examples), epochs=3, verbose=0, callbacks=[unfreezing])
    assert unfreezing.unfrozen_log == [0, 1, 2]
    # The layer-wise patterns match the task model's variable paths.
    by_layer = {
        v.path.split("/")[0]: optimizer.lr_multiplier(v) for v in model.backbone.weights
    }
    assert by_layer["transformer_layer_1"] == 0.5
    assert by_layer["transformer_layer_0"] == 0.25
    assert by_layer["token_embedding"] == 0.125
