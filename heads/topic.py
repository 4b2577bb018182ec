"""Topic: multi-class text classification over three or more labels.

Data: JSONL, one `{"text": "...", "label": "..."}` object a line, any number
(three or more) of distinct labels, e.g. news sections or support-ticket
queues. Serving outputs: `label`, `probabilities` (one column per label, in
`labels` order) and `score`, like `sentiment`.
"""

import kerasft


@kerasft.register_head("topic")
class TopicHead(kerasft.ClassificationHead):
    """Which of three or more topics a text is about.

    Args:
        labels: the topics, in output order (at least three).
        pooling: `"cls"` or `"mean"` (see `kerasft.ClassificationHead`).
        dropout: dropout before the output layer.

    Example:
    >>> head = TopicHead(labels=["politics", "science", "sports"])
    >>> head.num_labels
    3
    """

    example_data = ("tiny.jsonl", """\
{"text": "the team won the match", "label": "sports"}
{"text": "a late goal in the final", "label": "sports"}
{"text": "the striker scored twice", "label": "sports"}
{"text": "parliament passed the bill", "label": "politics"}
{"text": "the minister resigned today", "label": "politics"}
{"text": "voters went to the polls", "label": "politics"}
{"text": "the telescope found a planet", "label": "science"}
{"text": "a new vaccine trial began", "label": "science"}
{"text": "physicists measured the particle", "label": "science"}
""")

    def __init__(self, labels, **kwargs):
        if len(set(labels)) < 3:
            raise ValueError(
                "The `topic` head needs at least 3 distinct labels. Received: "
                f"labels={list(labels)}. For two classes use `--head=sentiment` "
                "(or another single-label head)."
            )
        super().__init__(labels=labels, **kwargs)
