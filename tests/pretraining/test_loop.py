"""The pretraining loop's phase plan (sequence-length warmup)."""

import pytest

from kerasft.pretraining.loop import training_phases
from kerasft.pretraining.mlm import PretrainConfig


def _plan(**kwargs):
    config = PretrainConfig(**{"steps": 1000, "batch_size": 64, "checkpoint_every": 100,
                               **kwargs})
    return [(p.start, p.end, p.sequence_length, p.batch_size)
            for p in training_phases(config, 64)]


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
