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

    example_data = ("tiny.jsonl", """\
{"text": "the film is good", "label": "positive"}
{"text": "a great movie", "label": "positive"}
{"text": "wonderful acting and story", "label": "positive"}
{"text": "loved this movie", "label": "positive"}
{"text": "the film is bad", "label": "negative"}
{"text": "an awful movie", "label": "negative"}
{"text": "dull acting and boring story", "label": "negative"}
{"text": "hated this movie", "label": "negative"}
""")
