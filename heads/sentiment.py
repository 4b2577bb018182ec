"""Sentiment: single-label text classification (binary or many classes).

Data: JSONL, one `{"text": "...", "label": "..."}` object a line.
Serving outputs: `label` (string), `probabilities` (one column per label, in
`labels` order) and `score` (the winning probability).
"""

import kerasft


@kerasft.register_head("sentiment")
class SentimentHead(kerasft.ClassificationHead):
    """Sentiment classification over the backbone's text representation.

    Example:
    >>> head = SentimentHead(labels=["negative", "positive"])
    """
