"""Task heads: the base class and the head kinds every registered head builds on.

`Head` (base.py) is the contract; `ClassificationHead`, `TokenClassificationHead`
and `MultiLabelClassificationHead` are the kinds. A registered head (see
`kerasft.registry` and the `heads/` package) is one short subclass of a kind.
"""

from kerasft.head.base import Head, pool_text
from kerasft.head.classification import ClassificationHead
from kerasft.head.multilabel import MultiLabelClassificationHead
from kerasft.head.token_classification import (
    MaskedAccuracy,
    TokenClassificationHead,
    TokenEncoding,
)

__all__ = [
    "ClassificationHead",
    "Head",
    "MaskedAccuracy",
    "MultiLabelClassificationHead",
    "TokenClassificationHead",
    "TokenEncoding",
    "pool_text",
]
