"""kerasft: pretrain a BERT backbone on your own text, fine-tune heads, serve.

The data flow, one module a stage: `data` (readers) -> `tokenizers` ->
`backbone` -> `pretraining` -> `head` / `registry` (+ the `heads` package)
-> `task` -> `finetuning` -> `evaluation` -> `export`.
"""

from kerasft.backbone import BackboneConfig, build_backbone, load_backbone, save_backbone
from kerasft.head import ClassificationHead, Head
from kerasft.registry import available_heads, get_head, register_head
from kerasft.task import TaskModel, load_model
from kerasft.tokenizers import TextPreprocessor, train_wordpiece_vocabulary

__version__ = "0.1.0"
