"""A vocabulary trained by `train_wordpiece_vocabulary` (Hugging Face
`tokenizers` learns the pieces) tokenizes every sentence of every shared
dataset identically in the training pipeline and in the exported `tokenize`
signature, and is as large as asked for (keras-hub's learner gave 2,842 of
8,000 pieces on the sentiment text)."""

import pytest
import tensorflow as tf

import kerasft
from conftest import NER_DIR, SENTIMENT_DIR, STYLE_DIR
from kerasft.export.saved_model import export_model
from kerasft.tokenizers import train_wordpiece_vocabulary

DATASETS = {
    # name: (dataset folder, head, lowercase)
    "sentiment": (SENTIMENT_DIR, "sentiment", True),
    "ner": (NER_DIR, "ner", False),
    "style": (STYLE_DIR, "style", False),
}


def _texts(head_cls, folder):
    texts = []
    for split in ("train", "validation", "test"):
        path = next(folder.glob(f"{split}.*"))
        texts += [head_cls.example_text(e) for e in head_cls.read_examples(path)]
    return texts


@pytest.mark.large
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_trained_vocabulary_gives_the_same_ids_in_training_and_serving(
    shared_data, name, tmp_path
):
    folder, head_name, lowercase = DATASETS[name]
    head_cls = kerasft.get_head(head_name)
    texts = _texts(head_cls, folder)
    vocab = train_wordpiece_vocabulary(texts, 8000, lowercase=lowercase)
    assert len(vocab) == 8000
    pre = kerasft.TextPreprocessor(vocab, sequence_length=256, lowercase=lowercase)
    backbone = kerasft.build_backbone(kerasft.BackboneConfig(
        vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=8, max_sequence_length=256,
    ))
    sentiment = kerasft.get_head("sentiment")
    model = kerasft.TaskModel(backbone, [sentiment(["a", "b"])], pre)
    path = export_model(model, tmp_path, "tokens", verify=False)
    tokenize = tf.saved_model.load(str(path)).signatures["tokenize"]

    mismatches, total, unknown = [], 0, 0
    for i in range(0, len(texts), 1024):
        batch = texts[i:i + 1024]
        # The training side: the very layer every tf.data pipeline maps.
        trained = pre(tf.constant(batch))
        ids, mask = trained["token_ids"].numpy(), trained["padding_mask"].numpy()
        served = tokenize(text=tf.constant(batch))
        s_ids, n = served["token_ids"].numpy(), served["num_tokens"].numpy()
        for j, (row, m, s_row, k) in enumerate(zip(ids, mask, s_ids, n)):
            a, b = row[m.astype(bool)].tolist(), s_row[:k].tolist()
            if a != b:
                mismatches.append(i + j)
            total += len(a)
            unknown += a.count(pre.unk_token_id)
    assert not mismatches, (
        f"{len(mismatches)} of {len(texts)} sentences differ, first: "
        f"{texts[mismatches[0]]!r}"
    )
    # Real tokenization happened: almost no unknown pieces.
    assert unknown < 0.001 * total
