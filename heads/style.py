"""Writing style: single-label (`style`) or multi-label (`style_multilabel`).

Two registered names, because the trainer picks a head class before it reads
any data and a class should own one data format:

- `style`: one style per text, JSONL `{"text": ..., "label": "shakespeare"}`;
  serving outputs `label`, `probabilities`, `score` (like `sentiment`).
- `style_multilabel`: any number of style attributes per text, JSONL
  `{"text": ..., "labels": ["archaic", "verse"]}`; an independent sigmoid per
  attribute with a threshold per attribute tuned on validation (see
  `kerasft.head.MultiLabelClassificationHead`).
"""

import kerasft
from kerasft.data.jsonl import MissingFieldError, read_labelled_jsonl
from kerasft.head import MultiLabelClassificationHead


@kerasft.register_head("style")
class StyleHead(kerasft.ClassificationHead):
    """Single-label writing-style classification (e.g. shakespeare vs modern).

    Example:
    >>> head = StyleHead(labels=["modern", "shakespeare"], pooling="mean")
    """

    example_data = ("tiny.jsonl", """\
{"text": "thou art a villain .", "label": "shakespeare"}
{"text": "what say'st thou ?", "label": "shakespeare"}
{"text": "wherefore art thou here ?", "label": "shakespeare"}
{"text": "get thee gone !", "label": "shakespeare"}
{"text": "you are a villain .", "label": "modern"}
{"text": "what do you say ?", "label": "modern"}
{"text": "why are you here ?", "label": "modern"}
{"text": "go away !", "label": "modern"}
""")

    @classmethod
    def read_examples(cls, path, **kwargs):
        try:
            return read_labelled_jsonl(path, **kwargs)
        except MissingFieldError as e:
            if e.field == "label" and "labels" in e.received_keys:
                raise ValueError(
                    f"{e} This file has `labels` lists: use "
                    "`--head=style_multilabel` for multi-label style data."
                ) from None
            raise


@kerasft.register_head("style_multilabel")
class MultiLabelStyleHead(MultiLabelClassificationHead):
    """Multi-label writing-style attributes (e.g. archaic, verse, formal).

    Example:
    >>> head = MultiLabelStyleHead(labels=["archaic", "verse"], pooling="mean")
    """

    example_data = ("tiny.jsonl", """\
{"text": "thou art a villain .", "labels": ["archaic"]}
{"text": "what say'st thou ?", "labels": ["archaic", "question"]}
{"text": "wherefore art thou here ?", "labels": ["archaic", "question"]}
{"text": "get thee gone !", "labels": ["archaic"]}
{"text": "you are a villain .", "labels": []}
{"text": "what do you say ?", "labels": ["question"]}
{"text": "why are you here ?", "labels": ["question"]}
{"text": "go away !", "labels": []}
""")
