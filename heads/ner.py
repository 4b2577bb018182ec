"""NER: named-entity recognition as token classification over CoNLL files.

Data: CoNLL, one token a line (token first column, tag last; space- or
tab-separated), an empty line after each sentence, `-DOCSTART-` lines
skipped. IOB1, IOB2 and BIOES files are recognised and converted to IOB2.
Serving outputs: `words` with `word_start`/`word_end`, `tags`, `tag_scores`,
`num_words`, and the entity spans `entity_text`, `entity_type`,
`entity_start`, `entity_end`, `entity_score`, `num_entities` (character
offsets, end exclusive; dense and padded).
"""

import kerasft
from kerasft.data.conll import Sentence, read_conll


@kerasft.register_head("ner")
class NerHead(kerasft.TokenClassificationHead):
    """Named entities (e.g. CoNLL-2003's PER, LOC, ORG, MISC), scored like `conlleval`.

    Example:
    >>> head = NerHead(labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    """

    example_data = ("tiny.conll", """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

the DT B-NP O
film NN I-NP O
was VBD B-VP O
shot VBN I-VP O
in IN B-PP O
Paris NNP B-NP B-LOC
. . O O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
""")

    @classmethod
    def read_examples(cls, path, **kwargs) -> list[Sentence]:
        """Read a CoNLL file; tags converted to IOB2 (see `read_conll`).

        Args:
            path: the CoNLL file.
            **kwargs: `tag_scheme` (default `"auto"`) and `convert_to`
                (default `"iob2"`), passed to `read_conll`.

        Example:
        >>> sentences = NerHead.read_examples("validation.conll")  # doctest: +SKIP
        """
        kwargs.setdefault("tag_scheme", "auto")
        kwargs.setdefault("convert_to", "iob2")
        return read_conll(path, **kwargs)
