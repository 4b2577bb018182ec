"""One pretraining run end to end, the library call behind `kerasft-pretrain`.

corpora (weighted) -> held-out slice + training mixture -> tokenizer (new
WordPiece or SentencePiece trained on the mixture, or the starting
checkpoint's own) -> backbone (new, kerasft, keras-hub or Hugging Face) ->
masked-LM `fit` -> `run_dir/backbone/` (a keras-hub preset that
`kerasft-finetune --backbone=` and `BertBackbone.from_preset` load), with
`config.json`, `vocab.txt` (and `sentencepiece.model`), `metrics.json`,
`masked_lm_head.npz` (for `kerasft.export.fill_mask`), `backup/` (exact
resume state), `checkpoints/` and `tensorboard/` beside it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import keras
from absl import logging

from kerasft.atomic_files import atomic_path, write_json
from kerasft.backbone import (
    BackboneConfig,
    BackboneSize,
    build_backbone,
    check_choices,
    load_backbone,
    option,
    override_fields,
    save_backbone,
)
from kerasft.data.corpus_sources import CorpusSource, to_corpus_sources
from kerasft.data.corpus_stream import check_has_text, text_dataset
from kerasft.data.labelled_corpus import labelled_text_sources
from kerasft.data.mixing import mix_corpora, normalize_weights
from kerasft.checkpoints import weights_fingerprint
from kerasft.distribution import current_strategy, distribution_record, worker_output_dir
from kerasft.precision import use_precision
from kerasft.pretraining.loop import pretrain
from kerasft.pretraining.mlm import PretrainConfig
from kerasft.pretraining.vocabulary_extension import extend_vocabulary
from kerasft.tokenizers import (
    SentencePiecePreprocessor,
    TextPreprocessor,
    load_vocabulary,
    save_vocabulary,
    train_sentencepiece,
    train_wordpiece_vocabulary,
)

TOKENIZERS = ("wordpiece", "sentencepiece")
SENTENCEPIECE_FILE = "sentencepiece.model"


@dataclasses.dataclass
@override_fields(helps={
    "vocabulary_size": "Tokenizer vocabulary size.",
    "num_layers": "Transformer layers of a new backbone.",
    "num_heads": "Attention heads of a new backbone.",
    "hidden_dim": "Hidden size of a new backbone.",
    "intermediate_dim": "Feed-forward size of a new backbone.",
})
class PretrainRunConfig(BackboneSize):
    """Everything a pretraining run needs besides the MLM hyper-parameters.

    Args:
        vocabulary_size: size of a new tokenizer's vocabulary.
        num_layers, num_heads, hidden_dim, intermediate_dim: size of a new
            backbone (`kerasft.backbone.BackboneSize`).
        corpora: corpus specs (`path[:weight]`, see `kerasft.data.corpus_sources`).
        labelled_data: a labelled dataset folder whose split files' text is
            added as corpora (labels ignored).
        labelled_splits: which splits of `labelled_data` to use.
        allow_test_text: required to use the `test` split (transductive
            pretraining; recorded in the config and warned about).
        init_backbone: start from this backbone directory (kerasft,
            keras-hub preset, or Hugging Face BERT); its vocabulary is kept.
        extend_vocabulary: with `init_backbone`, learn up to this many new
            WordPiece pieces from the corpora, append them to the checkpoint's
            vocabulary and grow its token embedding
            (`kerasft.pretraining.vocabulary_extension`); 0 keeps it as is.
        tokenizer: `"wordpiece"` or `"sentencepiece"` for a new tokenizer
            (ignored with `init_backbone`, whose own tokenizer is kept).
        lowercase: new tokenizer casing.
        vocabulary_documents: documents read for tokenizer training when
            several corpora are mixed: each corpus gives its weighted share,
            each document at most once.
        sequence_length: tokens per sequence, special tokens included.
        dropout: a new backbone's dropout while pretraining.
        finetune_dropout: the dropout the saved backbone carries into
            fine-tuning (None: `dropout`; a continued checkpoint keeps its
            own). Pretraining without dropout learns faster on a small budget
            (Geiping & Goldstein 2022); fine-tuning still wants it.
        validation_documents: documents held out (first ones of each
            corpus, in proportion to the weights) for held-out MLM loss.
    """

    corpora: Sequence[str] = option(
        (),
        "Corpus spec [tfds:]PATH[?field=F&split=S&data_dir=D][:WEIGHT]; repeat "
        "to mix corpora by weight (.txt, .jsonl, .csv, .tsv, .conll, dirs, globs).",
        flag="corpus", repeat=True,
    )
    labelled_data: str = option(
        "", "A labelled dataset folder (train/validation/test files) whose text to add."
    )
    labelled_splits: Sequence[str] = option(
        ("train",), "Splits of --labelled_data to use as text."
    )
    allow_test_text: bool = option(
        False, "Allow the test split's text in pretraining (transductive; recorded)."
    )
    init_backbone: str = option(
        "",
        "Start from this backbone directory (kerasft, keras-hub preset or Hugging "
        "Face BERT); its vocabulary is kept. Empty: a new random backbone.",
    )
    extend_vocabulary: int = option(
        0,
        "With --init_backbone: learn up to N new WordPiece pieces from the "
        "corpora, append them (old ids unchanged) and grow the embedding.",
    )
    tokenizer: str = option(
        "wordpiece",
        "Tokenizer trained for a new backbone (a starting checkpoint keeps its own).",
        choices=TOKENIZERS,
    )
    lowercase: bool = option(True, "Lowercase and strip accents.")
    vocabulary_documents: int = option(
        200_000, "Documents of the mixture sampled to train the tokenizer."
    )
    sequence_length: int = option(128, "Tokens per sequence.")
    dropout: float = option(0.0, "Dropout of a new backbone while pretraining.")
    finetune_dropout: float | None = option(
        0.1, "Dropout the saved backbone carries into fine-tuning."
    )
    validation_documents: int = option(500, "Documents held out for MLM loss.")

    def __post_init__(self):
        check_choices(self)
        if self.extend_vocabulary < 0 or (self.extend_vocabulary and not self.init_backbone):
            raise ValueError(
                "`extend_vocabulary` adds pieces to a starting checkpoint's "
                "vocabulary: it needs `init_backbone` and a count >= 0. Received: "
                f"extend_vocabulary={self.extend_vocabulary!r}, "
                f"init_backbone={self.init_backbone!r}. A new backbone trains "
                "its own tokenizer (--vocabulary_size)."
            )


def resolve_sources(config: PretrainRunConfig) -> list[CorpusSource]:
    """Corpus specs plus the labelled dataset's text, validated."""
    sources = (
        to_corpus_sources(list(config.corpora)) if config.corpora else []
    )
    if config.labelled_data:
        sources += labelled_text_sources(
            config.labelled_data,
            splits=tuple(config.labelled_splits),
            allow_test=config.allow_test_text,
        )
    if not sources:
        raise ValueError(
            "No pretraining text given. Pass at least one `--corpus=PATH[:WEIGHT]` "
            "or `--labelled_data=DATASET_DIR`."
        )
    for source in sources:
        check_has_text(source)
    return sources


def run_pretraining(
    config: PretrainRunConfig,
    train_config: PretrainConfig,
    run_dir: str,
    *,
    resume: bool = False,
    verbose: int | str = "auto",
) -> dict:
    """Pretrain a backbone with masked-LM and save it under `run_dir/backbone`.

    Args:
        config: data, tokenizer and model choices (`PretrainRunConfig`).
        train_config: MLM hyper-parameters and budget (`PretrainConfig`).
        run_dir: the run directory (created).
        resume: continue an interrupted run in the same `run_dir`.
        verbose: Keras progress-bar verbosity.

    Returns:
        The metrics also written to `run_dir/metrics.json`.
    """
    # Under multi-worker training only the chief writes `run_dir`; every
    # worker resumes from what the chief wrote there.
    with worker_output_dir(run_dir) as out_dir, use_precision(train_config.precision):
        return _run(config, train_config, out_dir, run_dir, resume, verbose)


def _run(config: PretrainRunConfig, train_config: PretrainConfig, run_dir: str,
         resume_dir: str, resume: bool, verbose: int | str) -> dict:
    os.makedirs(run_dir, exist_ok=True)
    sources = resolve_sources(config)
    weights = normalize_weights([s.weight for s in sources], len(sources))
    transductive = any(s.split == "test" for s in sources)
    if transductive:
        logging.warning(
            "Pretraining on TEST text (transductive). Test scores of models "
            "fine-tuned from this backbone are not comparable to ones that "
            "never saw the test text; this run's config records it."
        )

    # Hold out the first documents of each corpus for held-out MLM loss.
    train_sets, val_sets = [], []
    for source, weight in zip(sources, weights):
        ds = text_dataset(source)
        n_val = max(1, round(config.validation_documents * weight))
        val_sets.append(ds.take(n_val))
        train_sets.append(ds.skip(n_val))
    validation = val_sets[0]
    for extra in val_sets[1:]:
        validation = validation.concatenate(extra)
    if len(train_sets) == 1:
        train_texts = train_sets[0]
    else:
        train_texts = mix_corpora(train_sets, weights, seed=train_config.seed)

    # Tokenizer resources are made outside the strategy scope: a
    # SentencePiece resource created inside it is not found by the tf.data
    # pipeline's ops.
    preprocessor = None
    if not config.init_backbone:
        # Each corpus gives its weighted share of the sample, each document
        # once: the training mixture repeats small corpora forever, so
        # drawing the sample from it could read a tiny corpus 10,000 times.
        shares = [
            ds.take(max(1, round(config.vocabulary_documents * weight)))
            for ds, weight in zip(train_sets, weights)
        ]
        vocab_texts = train_sets[0] if len(train_sets) == 1 else shares[0]
        for share in shares[1:]:
            vocab_texts = vocab_texts.concatenate(share)
        preprocessor = _new_tokenizer(config, vocab_texts, resume_dir, resume)
    # A new backbone's initial weights follow the run's seed too, so two runs
    # of one command are the same run.
    keras.utils.set_random_seed(train_config.seed)
    strategy = current_strategy()
    placement = distribution_record(train_config.batch_size, strategy)
    with strategy.scope():
        if config.init_backbone:
            backbone, preprocessor = load_backbone(
                config.init_backbone, sequence_length=config.sequence_length
            )
            logging.info(
                "Continuing pretraining of %s (its own %d-token vocabulary).",
                config.init_backbone, preprocessor.vocabulary_size,
            )
        else:
            backbone = build_backbone(
                BackboneConfig(
                    vocabulary_size=preprocessor.vocabulary_size,
                    num_layers=config.num_layers,
                    num_heads=config.num_heads,
                    hidden_dim=config.hidden_dim,
                    intermediate_dim=config.intermediate_dim,
                    dropout=config.dropout,
                    max_sequence_length=config.sequence_length,
                )
            )
    extension = None
    if config.init_backbone:
        # Rebuilt outside the scope, for the same reason.
        preprocessor = type(preprocessor).from_config(preprocessor.get_config())
    if config.extend_vocabulary:
        vocab_texts = train_texts.take(config.vocabulary_documents)
        with strategy.scope():
            backbone, preprocessor, extension = extend_vocabulary(
                backbone, preprocessor, vocab_texts, config.extend_vocabulary,
                held_out=validation,
            )
        preprocessor = type(preprocessor).from_config(preprocessor.get_config())
    save_vocabulary(preprocessor.vocabulary, os.path.join(run_dir, "vocab.txt"))
    if isinstance(preprocessor, SentencePiecePreprocessor):
        with atomic_path(os.path.join(run_dir, SENTENCEPIECE_FILE)) as tmp:
            with open(tmp, "wb") as f:
                f.write(preprocessor.proto)
    resolved = {
        "run": dataclasses.asdict(config),
        "train": dataclasses.asdict(train_config),
        "sources": [s.to_spec() for s in sources],
        "weights": weights,
        "transductive_test_text": transductive,
        "tokenizer_actual": (
            "sentencepiece"
            if isinstance(preprocessor, SentencePiecePreprocessor)
            else "wordpiece"
        ),
        "vocabulary_size_actual": preprocessor.vocabulary_size,
        "backbone_config": backbone.get_config(),
        **placement,
        "resume": resume,
    }
    write_json(os.path.join(run_dir, "config.json"), resolved, default=str)

    metrics = pretrain(
        backbone, preprocessor, train_texts,
        config=train_config, run_dir=run_dir,
        validation_texts=validation, resume=resume, resume_dir=resume_dir,
        verbose=verbose,
    )
    metrics["transductive_test_text"] = transductive
    metrics["vocabulary_size"] = preprocessor.vocabulary_size
    if extension is not None:
        metrics["vocabulary_extension"] = extension
    metrics["num_replicas_in_sync"] = placement["num_replicas_in_sync"]
    metrics["global_batch_size"] = placement["global_batch_size"]
    metrics["num_workers"] = placement["num_workers"]
    if (
        not config.init_backbone
        and config.finetune_dropout is not None
        and config.finetune_dropout != config.dropout
    ):
        backbone = _with_dropout(backbone, config.finetune_dropout)
    # Equal on every worker of a multi-worker run, and across reruns of one command.
    metrics["weights_sha256"] = weights_fingerprint(backbone)
    logging.info("Backbone weights SHA-256: %s", metrics["weights_sha256"])
    save_backbone(backbone, preprocessor, os.path.join(run_dir, "backbone"))
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    return metrics


def _with_dropout(backbone, dropout: float):
    """The same backbone (same weights) configured with another dropout."""
    config = dict(backbone.get_config(), dropout=dropout)
    rebuilt = type(backbone).from_config(config)
    rebuilt.set_weights(backbone.get_weights())
    return rebuilt


def _new_tokenizer(config: PretrainRunConfig, texts, run_dir: str, resume: bool):
    """Train the run's tokenizer, or reload it from `run_dir` when resuming."""
    sp_path = os.path.join(run_dir, SENTENCEPIECE_FILE)
    vocab_path = os.path.join(run_dir, "vocab.txt")
    if config.tokenizer == "sentencepiece":
        # Resuming must not retrain: the ids are baked into the checkpoint.
        if resume and os.path.isfile(sp_path):
            proto = sp_path
        else:
            proto = train_sentencepiece(
                texts, config.vocabulary_size, lowercase=config.lowercase
            )
        return SentencePiecePreprocessor(
            proto, sequence_length=config.sequence_length
        )
    if resume and os.path.isfile(vocab_path):
        vocab = load_vocabulary(vocab_path)
    else:
        vocab = train_wordpiece_vocabulary(
            texts, config.vocabulary_size, lowercase=config.lowercase
        )
    return TextPreprocessor(
        vocab, sequence_length=config.sequence_length, lowercase=config.lowercase
    )
