"""kerasft: pretrain a BERT backbone on your own text, fine-tune heads, serve.

The data flow, one module a stage: `data` (readers) -> `tokenizers` ->
`backbone` -> `pretraining` -> `head` / `registry` (+ the `heads` package)
-> `task` -> `finetuning` -> `evaluation` -> `export`.
"""

import os as _os
import sys as _sys

# Quiet TF's C++ start-up chatter (CUDA probes, oneDNN notices) unless the
# user chose a level; it must be set before TensorFlow is first imported.
# The kerasft binaries also drop its error-level notices (e.g. "oneDNN
# supports DT_INT64 only on ..."): real failures reach them as exceptions.
_BINARY = _os.path.basename(_sys.argv[0] if _sys.argv else "").startswith("kerasft-")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if _BINARY else "2")

from kerasft.backbone import BackboneConfig, build_backbone, load_backbone, save_backbone
from kerasft.head import (
    ClassificationHead,
    Head,
    MultiLabelClassificationHead,
    TokenClassificationHead,
)
from kerasft.registry import available_heads, get_head, register_head
from kerasft.task import TaskModel, load_model
from kerasft.tokenizers import TextPreprocessor, train_wordpiece_vocabulary

__version__ = "0.1.0"
