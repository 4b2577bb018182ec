"""WordPiece vocabularies: training, and the `vocab.txt` file format."""

import pytest

from kerasft.tokenizers import (
    TextPreprocessor,
    load_vocabulary,
    save_vocabulary,
    train_wordpiece_vocabulary,
)


def test_vocabulary_file_round_trip(tmp_path, tiny_vocab):
    path = tmp_path / "vocab.txt"
    save_vocabulary(tiny_vocab, path)
    assert load_vocabulary(path) == tiny_vocab
    assert TextPreprocessor(str(path)).vocabulary == tiny_vocab


def test_train_wordpiece_vocabulary_tokenizes_its_corpus():
    corpus = ["the cat sat on the mat", "the dog sat on the log"] * 20
    vocab = train_wordpiece_vocabulary(corpus, 60)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocab) <= 60
    pre = TextPreprocessor(vocab, sequence_length=16)
    ids = pre(["the cat sat on the mat"])["token_ids"].numpy()[0]
    assert vocab.index("[UNK]") not in ids.tolist()


@pytest.mark.subprocess
def test_trained_vocabulary_is_the_same_in_every_process():
    """`tokenizers` hashes its alphabet with a per-process key; the ids must
    not depend on it (a seeded pretraining run must be reproducible)."""
    import subprocess
    import sys

    code = (
        "from kerasft.tokenizers import train_wordpiece_vocabulary\n"
        "texts = ['the quick brown fox jumps over the lazy dog %d' % i for i in range(300)]\n"
        "print('\\n'.join(train_wordpiece_vocabulary(texts, 80)))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0].split()) > 20
