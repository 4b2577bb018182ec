"""The pretraining loop's phase plan (sequence-length warmup)."""

import pytest

from kerasft.pretraining.loop import training_phases
from kerasft.pretraining.mlm import PretrainConfig


def _phases(**kwargs):
    config = PretrainConfig(**{"steps": 1000, "batch_size": 64, "checkpoint_every": 100,
                               **kwargs})
    return training_phases(config, 64)


def _plan(**kwargs):
    return [(p.start, p.end, p.sequence_length, p.batch_size) for p in _phases(**kwargs)]


def test_warmup_keeps_tokens_per_step_and_ends_on_a_checkpoint():
    assert _plan(short_sequence_length=16) == [(0, 500, 16, 256), (500, 1000, 64, 64)]
    # 0.33 of 1000 steps rounds to the nearest checkpoint (300).
    assert _plan(short_sequence_length=16, short_sequence_fraction=0.33)[0][:2] == (0, 300)


@pytest.mark.parametrize("kwargs", [
    {"short_sequence_length": 0},
    {"short_sequence_length": 64},  # not shorter than the rows
    {"short_sequence_length": 16, "short_sequence_fraction": 0.0},
])
def test_no_warmup(kwargs):
    assert _plan(**kwargs) == [(0, 1000, 64, 64)]


def test_boundary_follows_the_planned_budget_not_the_stop_step():
    # A run stopped at 300 of a planned 1000 (decay_steps) keeps the boundary
    # at 500, so resuming it to 1000 trains the same phases.
    assert _plan(steps=300, decay_steps=1000, short_sequence_length=16) == [
        (0, 300, 16, 256)]
    assert _plan(steps=1000, decay_steps=1000, short_sequence_length=16)[1][0] == 500


def test_electra_warmup_cuts_a_row_length_stream_and_keeps_its_data_position():
    phases = _phases(objective="electra", short_sequence_length=16,
                     electra_mlm_fraction=0.3)
    assert [(p.start, p.end, p.sequence_length, p.batch_size, p.data_start,
             p.masked_lm) for p in phases] == [
        (0, 300, 16, 256, 0, True),
        # Same stream of short rows: its batches continue from batch 300.
        (300, 500, 16, 256, 0, False),
        (500, 1000, 64, 64, 500, False),
    ]
    assert phases[0].seed_offset == phases[1].seed_offset != phases[2].seed_offset


def test_electra_warmup_past_the_short_rows_and_without_warmup():
    assert [(p.start, p.end, p.sequence_length, p.masked_lm) for p in _phases(
        objective="electra", short_sequence_length=16, short_sequence_fraction=0.2,
        electra_mlm_fraction=0.5)] == [
        (0, 200, 16, True), (200, 500, 64, True), (500, 1000, 64, False)]
    assert [(p.start, p.end, p.masked_lm) for p in _phases(
        objective="electra", short_sequence_length=0, electra_mlm_fraction=0.0)] == [
        (0, 1000, False)]


def test_masked_lm_objective_ignores_the_electra_warmup():
    phases = _phases(objective="mlm", short_sequence_length=0, electra_mlm_fraction=0.5)
    assert [(p.start, p.end, p.masked_lm) for p in phases] == [(0, 1000, False)]
