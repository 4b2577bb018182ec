"""Multitask training of one backbone with several heads: task sampling, joint and sequential fit."""

from __future__ import annotations

import collections

import keras
import numpy as np
import pytest

import kerasft
from kerasft.finetuning.multitask import batch_task, multitask_dataset, sequential_fit
from conftest import tiny_sentiment_examples

NER_CONLL = """\
EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

the DT B-NP O
film NN I-NP O
was VBD B-VP O
good JJ I-VP O
in IN B-PP O
Paris NNP B-NP B-LOC
. . O O

BRUSSELS NNP B-NP B-LOC
is VBZ O O
dull JJ O O
"""


@pytest.fixture
def two_head(tiny_backbone, tiny_preprocessor, tmp_path):
    """A sentiment + NER model and each head's tiny batched dataset."""
    sentiment = kerasft.get_head("sentiment")(["negative", "positive"], pooling="mean")
    s_examples = tiny_sentiment_examples()
    ner_cls = kerasft.get_head("ner")
    path = tmp_path / "tiny.conll"
    path.write_text(NER_CONLL, encoding="utf-8")
    n_examples = ner_cls.read_examples(str(path))
    ner = ner_cls(ner_cls.labels_from_examples(n_examples))
    model = kerasft.TaskModel(tiny_backbone, [sentiment, ner], tiny_preprocessor)
    datasets = {
        # 16 examples / 4 = 4 batches; 4 sentences / 2 = 2 batches.
        "sentiment": sentiment.make_dataset(s_examples, tiny_preprocessor, batch_size=4,
                                            shuffle=True, seed=0),
        "ner": ner.make_dataset(n_examples, tiny_preprocessor, batch_size=2,
                                shuffle=True, seed=0),
    }
    return model, datasets


def test_batches_carry_every_head_with_matching_widths(two_head):
    model, datasets = two_head
    ds = multitask_dataset(model, datasets, sampling="round_robin")
    assert int(ds.cardinality()) == 6  # 4 + 2 batches
    for features, targets, weights in ds.take(4):
        batch, width = features["token_ids"].shape
        assert set(targets) == set(weights) == {"sentiment", "ner"}
        assert targets["ner"].shape == weights["ner"].shape == (batch, width)
        assert targets["sentiment"].shape == weights["sentiment"].shape == (batch,)
        task = batch_task(weights)
        other = "ner" if task == "sentiment" else "sentiment"
        assert float(np.max(weights[other])) == 0.0
        assert float(np.min(weights[task])) == 1.0


def test_round_robin_alternates_tasks_exactly(two_head):
    model, datasets = two_head
    ds = multitask_dataset(model, datasets, sampling="round_robin", steps=10)
    tasks = [batch_task(w) for _, _, w in ds]
    assert tasks == ["sentiment", "ner"] * 5


def test_proportional_sampling_follows_dataset_sizes(two_head):
    model, datasets = two_head
    ds = multitask_dataset(model, datasets, sampling="proportional", seed=1, steps=200)
    counts = collections.Counter(batch_task(w) for _, _, w in ds)
    # Expected 4/6 sentiment; binomial std over 200 draws is 0.033, so
    # 0.08 is a > 2-sigma tolerance (and the draw is seeded, hence stable).
    assert sum(counts.values()) == 200
    assert counts["sentiment"] / 200 == pytest.approx(4 / 6, abs=0.08)
    # Explicit sizes override the cardinalities.
    ds = multitask_dataset(model, datasets, sampling="proportional", seed=1, steps=200,
                           sizes={"sentiment": 1, "ner": 3})
    counts = collections.Counter(batch_task(w) for _, _, w in ds)
    assert counts["ner"] / 200 == pytest.approx(3 / 4, abs=0.08)


def test_bad_arguments_fail_clearly(two_head):
    model, datasets = two_head
    with pytest.raises(ValueError, match="`sampling` must be one of"):
        multitask_dataset(model, datasets, sampling="uniform")
    with pytest.raises(ValueError, match=r"not heads of the model: \['style'\]"):
        multitask_dataset(model, {"style": datasets["sentiment"]})
    with pytest.raises(ValueError, match="Pass `sizes="):
        multitask_dataset(model, {"sentiment": datasets["sentiment"].repeat()})
    with pytest.raises(TypeError, match="zero-argument callable"):
        sequential_fit(model, datasets, optimizer=keras.optimizers.Adam())


@pytest.mark.large
def test_joint_fit_lowers_both_heads_losses(two_head):
    model, datasets = two_head
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=model.default_losses(),
                  metrics=model.default_metrics())
    for sampling in ("proportional", "round_robin"):
        ds = multitask_dataset(model, datasets, sampling=sampling, seed=0, steps=12)
        # Per-head evaluation: the same stream's masked losses before and after.
        before = model.evaluate(ds, return_dict=True, verbose=0)
        history = model.fit(ds, epochs=4, verbose=0).history
        after = model.evaluate(ds, return_dict=True, verbose=0)
        assert np.isfinite(history["loss"]).all()
        for name in ("sentiment", "ner"):
            assert after[f"{name}_loss"] < before[f"{name}_loss"], (sampling, name)


@pytest.mark.large
def test_sequential_fit_trains_only_the_active_head_each_stage(two_head):
    model, datasets = two_head

    def head_kernels():
        return {h.name: [w.numpy().copy() for w in h.weights] for h in model.heads}

    snapshots = [head_kernels()]

    class Snapshot(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            snapshots.append(head_kernels())

    histories = sequential_fit(
        model, datasets, epochs_per_head=3,
        optimizer=lambda: keras.optimizers.Adam(1e-2), callbacks=[Snapshot()],
    )
    assert list(histories) == ["sentiment", "ner"]
    for name, history in histories.items():
        assert history[f"{name}_loss"][-1] < history[f"{name}_loss"][0], name
    for stage, name in enumerate(histories):
        before, after = snapshots[stage], snapshots[stage + 1]
        for head, weights in before.items():
            changed = any(not np.array_equal(a, b) for a, b in zip(weights, after[head]))
            assert changed == (head == name), (name, head)
    assert all(h.trainable for h in model.heads)


def test_masked_lm_auxiliary_adds_a_masked_copy_of_each_batch(two_head):
    from kerasft.finetuning.auxiliary_mlm import MaskedLMAuxiliary

    model, datasets = two_head
    aux = MaskedLMAuxiliary(model, aux_weight=0.5)
    assert aux.loss_weights() == {"sentiment": 1.0, "ner": 1.0, "mlm": 0.5}
    features, targets, weights = next(iter(aux.dataset(datasets["sentiment"], seed=0)))
    assert set(targets) == set(weights) == {"sentiment", "ner", "mlm"}
    masked = features["masked_token_ids"].numpy()
    positions = features["mask_positions"].numpy()
    assert masked.shape == features["token_ids"].shape
    assert targets["mlm"].shape == weights["mlm"].shape == positions.shape
    rows = np.arange(len(positions))[:, None]
    # The targets are the original ids at the masked positions.
    selected = weights["mlm"].numpy() > 0
    assert selected.any()
    original = features["token_ids"].numpy()[rows, positions]
    np.testing.assert_array_equal(original[selected], targets["mlm"].numpy()[selected])
    outputs = aux(features)
    assert outputs["mlm"].shape == (*positions.shape, model.backbone.vocabulary_size)
    with pytest.raises(ValueError, match="`aux_weight` must be >= 0"):
        MaskedLMAuxiliary(model, aux_weight=-1)


@pytest.mark.large
def test_masked_lm_auxiliary_fit_trains_the_shared_task_model(two_head):
    from kerasft.finetuning.auxiliary_mlm import MaskedLMAuxiliary

    model, datasets = two_head
    aux = MaskedLMAuxiliary(model, aux_weight=0.5)
    aux.compile(optimizer=keras.optimizers.Adam(1e-2), loss=aux.default_losses(),
                loss_weights=aux.loss_weights(), metrics=aux.default_metrics())
    ds = aux.dataset(multitask_dataset(model, datasets, sampling="round_robin", steps=6),
                     seed=0)
    embedding = model.backbone.token_embedding.embeddings.numpy().copy()
    history = aux.fit(ds, epochs=4, verbose=0).history
    for key in ("sentiment_loss", "mlm_loss"):
        assert history[key][-1] < history[key][0], key
    # The task model is the trained one: its (shared) embedding moved.
    assert not np.array_equal(embedding, model.backbone.token_embedding.embeddings.numpy())
