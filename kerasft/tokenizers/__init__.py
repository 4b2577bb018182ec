"""Tokenizer training and the text preprocessing layers (WordPiece, SentencePiece).

The same preprocessing layer feeds pretraining, fine-tuning and every export,
so token ids can never drift between training and serving. Both layers are
built only from ops the TF Serving model server links (TF core plus tf.text's
table-based `BertTokenizer`, or tf.text's `SentencepieceTokenizer`), never
keras-hub's `FastWordpieceTokenizer` or `RoundRobinTrim` (see
`docs/tf-serving-contract.md` in the shared docs). `TextPreprocessor`
(WordPiece) and `SentencePiecePreprocessor` share one interface: `__call__`,
`tokenize`, `tokenize_words`, `pack`, the special ids, `vocabulary`.

The data flow, one module a step:
- `special_tokens`: the five BERT special tokens every vocabulary holds;
- `vocabulary` (train a WordPiece vocabulary, read and write `vocab.txt`) and
  `sentencepiece_model` (train a SentencePiece model, read one);
- `wordpiece_preprocessor` (`TextPreprocessor`) and
  `sentencepiece_preprocessor` (`SentencePiecePreprocessor`): text to pieces;
- `bert_inputs`: pieces to BERT inputs (trim, `[CLS]`/`[SEP]`, pad), shared
  by both layers.
"""

from kerasft.tokenizers.bert_inputs import pack_pieces
from kerasft.tokenizers.sentencepiece_model import train_sentencepiece
from kerasft.tokenizers.sentencepiece_preprocessor import SentencePiecePreprocessor
from kerasft.tokenizers.special_tokens import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, UNK
from kerasft.tokenizers.vocabulary import (
    load_vocabulary,
    save_vocabulary,
    train_wordpiece_vocabulary,
)
from kerasft.tokenizers.wordpiece_preprocessor import TextPreprocessor

__all__ = [
    "CLS",
    "MASK",
    "PAD",
    "SEP",
    "SPECIAL_TOKENS",
    "UNK",
    "SentencePiecePreprocessor",
    "TextPreprocessor",
    "load_vocabulary",
    "pack_pieces",
    "save_vocabulary",
    "train_sentencepiece",
    "train_wordpiece_vocabulary",
]
