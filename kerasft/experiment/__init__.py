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

`output_dir` gets `report.md` (the verdict, the table and figures),
`results.json` (everything, per seed), `test_metric.png` (mean ± std per
regime), `learning_curves.png` (validation metric per fine-tuning epoch),
and the run directories `pretrain/REGIME/`, `finetune/REGIME/seed-N/` and
`baseline/`. With several `label_fractions`, every regime is also
fine-tuned on nested, stratified train subsets (`labels/`, runs in
`finetune/REGIME/labels-F/seed-N/`), plotted in `label_curve.png`. Each
regime's best model is exported to `serving/REGIME/N/` and timed at batch 1
(`measure_serving`). Runs whose recorded settings match are reused, so an
interrupted experiment resumes.

Leakage: the fraction of test texts (whitespace-normalised, exact match)
that occur as a document of the regime's pretraining corpus, including its
held-out documents. It is unknown for MiniLM's own (unpublished in this
package) pretraining corpus, so `off_the_shelf` reports none and `continued`
reports only the part it adds.

The class-imbalance experiment (plain vs. two-stage + class-balanced
fine-tuning on an imbalanced train split) is `kerasft.experiment.imbalance`;
it shares the run cache, the statistics and the report helpers.
"""

from kerasft.experiment.config import (
    MINILM_REGIMES,
    REGIMES,
    TITLES,
    ExperimentConfig,
)
from kerasft.experiment.contamination import (
    corpus_documents,
    leakage,
    normalize_text,
    regime_leakage,
)
from kerasft.experiment.dataset import split_files
from kerasft.experiment.plan import default_minilm_dir, pretraining_plan
from kerasft.experiment.plots import plot_learning_curves, plot_test_metric
from kerasft.experiment.regimes import run_experiment
from kerasft.experiment.report import render_report

__all__ = [
    "MINILM_REGIMES",
    "REGIMES",
    "TITLES",
    "ExperimentConfig",
    "corpus_documents",
    "default_minilm_dir",
    "leakage",
    "normalize_text",
    "plot_learning_curves",
    "plot_test_metric",
    "pretraining_plan",
    "regime_leakage",
    "render_report",
    "run_experiment",
    "split_files",
]
