"""TokenClassificationHead: word/piece alignment, span decoding, training, serving.

Alignment and decoding tests use hand-made inputs and logits (fast); the
`large` tests train one tiny model on a 'john lives in paris' task, then
save, reload and export it.
"""

import numpy as np
import pytest
import tensorflow as tf

import kerasft
from kerasft import token_alignment
from kerasft.data.conll import Sentence
from kerasft.head import MaskedAccuracy, TokenClassificationHead

WORDS = (
    "john mary anna paris london rome acme globex lives works in at visited "
    "and the corp inc . , u s"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##x"]
LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]

PATTERNS = [
    ("{p} lives in {l} .", ("B-PER", "O", "O", "B-LOC", "O")),
    ("{p} works at {o} corp", ("B-PER", "O", "O", "B-ORG", "I-ORG")),
    ("{p} visited {l} and {l2}", ("B-PER", "O", "B-LOC", "O", "B-LOC")),
    ("the {o} inc , {l}", ("O", "B-ORG", "I-ORG", "O", "B-LOC")),
]


def tiny_ner_sentences() -> list[Sentence]:
    people, places, orgs = ["john", "mary", "anna"], ["paris", "london", "rome"], ["acme", "globex"]
    sentences = []
    for i, (pattern, tags) in enumerate(PATTERNS):
        for j, person in enumerate(people):
            text = pattern.format(
                p=person, l=places[j], l2=places[(j + 1) % 3], o=orgs[j % 2]
            )
            sentences.append(Sentence(tuple(text.split()), tags, "tiny", 10 * i + j + 1))
    return sentences


@pytest.fixture(scope="module")
def pre():
    return kerasft.TextPreprocessor(VOCAB, sequence_length=16)


def _ragged(rows):
    return tf.ragged.constant(rows, dtype=tf.string)


# --- alignment --------------------------------------------------------------
def test_multi_piece_and_punctuation_words_map_to_one_word(pre):
    # "u.s." is 4 basic tokens (u . s .) but ONE word; "acmes" is 2 pieces.
    out = token_alignment.pack_words(pre, _ragged([["u.s.", "acmes", "in"]]))
    ids = out["token_ids"].numpy()[0].tolist()
    u, s, dot, acme, s_piece, in_ = (VOCAB.index(t) for t in ("u", "s", ".", "acme", "##s", "in"))
    assert ids == [2, u, dot, s, dot, acme, s_piece, in_, 3]
    assert out["first_piece_index"].numpy().tolist() == [[1, 5, 7]]
    assert out["num_words"].numpy().tolist() == [3]


def test_word_without_pieces_gets_unk(pre):
    # A lone control character tokenizes to nothing; it still needs a position.
    out = token_alignment.pack_words(pre, _ragged([["john", "\x07", "in"]]))
    assert out["token_ids"].numpy()[0].tolist() == [2, VOCAB.index("john"), 1, VOCAB.index("in"), 3]
    assert out["first_piece_index"].numpy().tolist() == [[1, 2, 3]]


def test_truncation_marks_words_beyond_the_window(pre):
    # sequence_length 16 leaves 14 pieces: 7 two-piece words fit, 8th does not.
    words = ["acmes"] * 8 + ["in"]
    out = token_alignment.pack_words(pre, _ragged([words, ["in"]]))
    assert out["token_ids"].shape == (2, 16)
    assert out["first_piece_index"].numpy()[0].tolist() == [1, 3, 5, 7, 9, 11, 13, -1, -1]
    assert out["first_piece_index"].numpy()[1].tolist() == [1] + [-1] * 8


def test_encode_pieces_counts_and_logs_truncated_words(pre, caplog):
    head = TokenClassificationHead(LABELS)
    long = Sentence(tuple(["acmes"] * 8 + ["paris"]), ("B-ORG",) + ("I-ORG",) * 7 + ("B-LOC",), "f", 1)
    short = Sentence(("john", "lives"), ("B-PER", "O"), "f", 12)
    with caplog.at_level("WARNING"):
        enc = head.encode_pieces([long, short], pre)
    assert (enc.truncated_words, enc.truncated_sentences) == (2, 1)
    assert "2 of 11 words (in 1 of 2 sentences)" in caplog.text
    assert enc.targets[0].tolist() == [-1, 3, -1, 4, -1, 4, -1, 4, -1, 4, -1, 4, -1, 4, -1, -1]
    assert enc.targets[1].tolist() == [-1, 5, 0, -1]
    assert enc.token_ids[1].tolist() == [2, VOCAB.index("john"), VOCAB.index("lives"), 3]


def test_make_dataset_pads_per_batch_and_ignores_non_first_pieces(pre):
    head = TokenClassificationHead(LABELS, name="ner")
    sentences = tiny_ner_sentences()
    ds = head.make_dataset(sentences, pre, batch_size=5)
    assert int(ds.cardinality()) == 3
    features, targets = next(iter(ds))
    enc = head.encode_pieces(sentences[:5], pre)
    width = max(len(t) for t in enc.token_ids)
    assert features["token_ids"].shape == (5, width)
    assert targets["ner"].numpy()[0, : len(enc.targets[0])].tolist() == enc.targets[0].tolist()
    assert (targets["ner"].numpy()[~features["padding_mask"].numpy()] == -1).all()
    shuffled = [int(x["token_ids"].shape[0]) for x, _ in head.make_dataset(sentences, pre, batch_size=5, shuffle=True, seed=1)]
    assert sorted(shuffled) == [2, 5, 5]


def test_unknown_tag_names_file_and_line():
    head = TokenClassificationHead(["O", "B-PER", "I-PER"])
    bad = Sentence(("john", "in", "paris"), ("B-PER", "O", "B-LOC"), "dev.conll", 40)
    with pytest.raises(ValueError, match=r"dev.conll, line 42: tag 'B-LOC' was never seen"):
        head.encode([bad])


def test_labels_need_o_and_prefixed_tags():
    with pytest.raises(ValueError, match="must include the outside tag 'O'"):
        TokenClassificationHead(["B-PER", "I-PER"])
    with pytest.raises(ValueError, match=r"Received: 'NN'"):
        TokenClassificationHead(["O", "NN"])


def test_labels_from_examples_completes_prefix_pairs():
    sentences = [Sentence(("a", "b"), ("B-PER", "B-LOC"), "f", 1)]
    assert TokenClassificationHead.labels_from_examples(sentences) == [
        "O", "B-LOC", "I-LOC", "B-PER", "I-PER"
    ]


def test_masked_accuracy_ignores_minus_one_and_round_trips():
    m = MaskedAccuracy()
    m.update_state([[2, -1, 0, -1]], tf.one_hot([[2, 0, 1, 1]], 3))
    assert float(m.result()) == pytest.approx(0.5)
    clone = MaskedAccuracy.from_config(m.get_config())
    assert clone.ignore_class == -1 and clone.name == "accuracy"


def test_get_config_round_trip():
    head = TokenClassificationHead(LABELS, dropout=0.2, name="tagger")
    clone = TokenClassificationHead.from_config(head.get_config())
    assert (clone.labels, clone.dropout, clone.name) == (LABELS, 0.2, "tagger")
    assert clone.entity_types == ["LOC", "ORG", "PER"]


# --- span decoding and serving outputs on hand-made logits -----------------
def decode(tag_rows):
    codes, _, type_ids = token_alignment.label_codes(LABELS)
    width = max(len(r) for r in tag_rows)
    ids = [[LABELS.index(t) for t in r] + [0] * (width - len(r)) for r in tag_rows]
    spans = token_alignment.decode_spans(
        tf.gather(codes, ids), tf.gather(type_ids, ids)
    )
    types = ["LOC", "ORG", "PER"]
    return [
        [(s, e, types[t]) for s, e, t in zip(*row)]
        for row in zip(spans["start"].to_list(), spans["end"].to_list(), spans["type_id"].to_list())
    ]


def test_decode_spans_follows_conlleval_chunking():
    rows = [
        ["B-PER", "I-PER", "O", "B-LOC"],          # plain spans
        ["B-PER", "B-PER", "I-PER"],               # adjacent same-type entities
        ["O", "I-LOC", "I-LOC", "O"],              # I- after O starts an entity
        ["B-PER", "I-LOC", "I-ORG", "I-ORG"],      # type change starts a new one
        ["O", "O"],
        [],
    ]
    assert decode(rows) == [
        [(0, 2, "PER"), (3, 4, "LOC")],
        [(0, 1, "PER"), (1, 3, "PER")],
        [(1, 3, "LOC")],
        [(0, 1, "PER"), (1, 2, "LOC"), (2, 4, "ORG")],
        [],
        [],
    ]


def test_decode_spans_agrees_with_conlleval_on_random_tags():
    from kerasft.metrics.entity_metrics import conlleval

    rng = np.random.default_rng(0)
    rows = [list(rng.choice(LABELS, size=rng.integers(1, 9))) for _ in range(200)]
    decoded = decode(rows)
    # A prediction equal to gold finds exactly the gold chunks; count them.
    m = conlleval(rows, rows)
    assert sum(len(r) for r in decoded) == m.counts["found_correct"]
    for row, spans in zip(rows, decoded):
        for start, end, entity_type in spans:
            assert all(t.endswith(entity_type) for t in row[start:end])


def hand_made_logits(features, tag_rows):
    """Logits whose first-piece argmax is the wanted tag of each word."""
    first = features["first_piece_index"].numpy()
    logits = np.zeros(features["token_ids"].shape + (len(LABELS),), "float32")
    for b, tags in enumerate(tag_rows):
        for w, tag in enumerate(tags):
            logits[b, first[b, w], LABELS.index(tag)] = 5.0
    return tf.constant(logits)


def test_postprocess_gives_dense_words_tags_and_character_offsets(pre):
    head = TokenClassificationHead(LABELS)
    texts = ["Zoë  lives in São Paulo .", "", "acme corp"]
    tags = [["B-PER", "O", "O", "B-LOC", "I-LOC", "O"], [], ["B-ORG", "I-ORG"]]
    features = head.serving_features(pre, tf.constant(texts))
    out = {k: v.numpy() for k, v in head.postprocess(hand_made_logits(features, tags), features).items()}
    assert out["num_words"].tolist() == [6, 0, 2]
    assert out["words"].shape == out["tags"].shape == out["word_start"].shape == (3, 6)
    assert [t.decode() for t in out["tags"][0]] == tags[0]
    assert [t.decode() for t in out["tags"][1]] == [""] * 6
    # Character (not byte) offsets: "Zoë" is 3 characters, 4 bytes.
    assert out["word_start"][0].tolist() == [0, 5, 11, 14, 18, 24]
    assert out["word_end"][0].tolist() == [3, 10, 13, 17, 23, 25]
    assert out["num_entities"].tolist() == [2, 0, 1]
    assert out["entity_text"].shape == out["entity_start"].shape == (3, 2)
    for b, text in enumerate(texts):
        for e in range(out["num_entities"][b]):
            start, end = out["entity_start"][b, e], out["entity_end"][b, e]
            assert text[start:end] == out["entity_text"][b, e].decode()
    assert [x.decode() for x in out["entity_text"][0]] == ["Zoë", "São Paulo"]
    assert [x.decode() for x in out["entity_type"][0]] == ["PER", "LOC"]
    assert out["entity_score"][0, 1] == pytest.approx(out["tag_scores"][0, 3:5].mean())
    assert out["entity_score"][1].tolist() == [0.0, 0.0]


def test_postprocess_tags_truncated_words_o_with_zero_score(pre):
    head = TokenClassificationHead(LABELS)
    text = " ".join(["acmes"] * 8 + ["paris"])
    features = head.serving_features(pre, tf.constant([text]))
    logits = tf.fill(features["token_ids"].shape + (len(LABELS),), 0.0)
    logits += tf.one_hot(LABELS.index("B-LOC"), len(LABELS)) * 5  # every piece B-LOC
    out = head.postprocess(logits, features)
    assert [t.decode() for t in out["tags"].numpy()[0]] == ["B-LOC"] * 7 + ["O", "O"]
    assert out["tag_scores"].numpy()[0, 7:].tolist() == [0.0, 0.0]
    assert int(out["num_entities"][0]) == 7


def test_all_empty_batch_has_valid_shapes(pre):
    head = TokenClassificationHead(LABELS)
    features = head.serving_features(pre, tf.constant(["", "  "]))
    out = head.postprocess(tf.zeros(features["token_ids"].shape + (len(LABELS),)), features)
    assert out["words"].shape == (2, 0) and out["entity_text"].shape == (2, 0)
    assert out["num_words"].numpy().tolist() == [0, 0]


# --- a tiny model that learns, round-trips and exports ----------------------
@pytest.fixture(scope="module")
def trained_tiny_ner_model():
    import keras

    keras.utils.set_random_seed(0)
    pre = kerasft.TextPreprocessor(VOCAB, sequence_length=16)
    backbone = kerasft.build_backbone(kerasft.BackboneConfig(
        vocabulary_size=len(VOCAB), num_layers=1, num_heads=2, hidden_dim=32,
        intermediate_dim=64, dropout=0.0, max_sequence_length=16,
    ))
    head = TokenClassificationHead(LABELS, dropout=0.0, name="ner")
    model = kerasft.TaskModel(backbone, [head], pre)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=model.default_losses(),
                  metrics=model.default_metrics())
    sentences = tiny_ner_sentences()
    model.fit(head.make_dataset(sentences, pre, batch_size=4, shuffle=True, seed=0),
              epochs=12, verbose=0)
    return model, sentences


@pytest.mark.large
def test_tiny_model_learns_entities(trained_tiny_ner_model):
    from kerasft.evaluation.predict import evaluate_model

    model, sentences = trained_tiny_ner_model
    report = evaluate_model(model, "ner", sentences)
    assert report["f1"] == 1.0, report
    assert report["per_type"]["ORG"]["f1"] == 1.0
    pred = model.predict_text(["anna lives in london .", "mary works at globex corp"])
    assert pred["entity_text"][0, :2].tolist() == ["anna", "london"]
    assert pred["entity_type"][1, :2].tolist() == ["PER", "ORG"]
    assert pred["entity_text"][1, 1] == "globex corp"


@pytest.mark.large
def test_evaluate_and_report_file(trained_tiny_ner_model, tmp_path):
    from kerasft.evaluation.predict import evaluate_model

    model, sentences = trained_tiny_ner_model
    report = evaluate_model(model, "ner", sentences, batch_size=5)
    [path] = model.head("ner").write_reports(report, str(tmp_path), prefix="test")
    text = open(path).read()
    assert path.endswith("test_entities.txt")
    assert "precision: 100.00%" in text and "ORG: precision" in text


@pytest.mark.large
def test_keras_file_round_trip_predicts_the_same(trained_tiny_ner_model, tmp_path):
    model, _ = trained_tiny_ner_model
    path = str(tmp_path / "ner.keras")
    model.save(path)
    loaded = kerasft.load_model(path)
    texts = ["john visited rome and paris", "", "the acme inc , rome"]
    a, b = model.predict_text(texts), loaded.predict_text(texts)
    assert a.keys() == b.keys()
    for key in a:
        if a[key].dtype.kind in "fc":
            np.testing.assert_allclose(a[key], b[key], atol=1e-6)
        else:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.large
def test_multi_head_serve_runs_each_feature_set(trained_tiny_ner_model):
    model, _ = trained_tiny_ner_model
    sentiment = kerasft.get_head("sentiment")(["neg", "pos"], pooling="mean")
    both = kerasft.TaskModel(model.backbone, [model.head("ner"), sentiment], model.preprocessor)
    text = tf.constant(["mary lives in rome .", ""])
    out = both.serve(text)
    assert out["sentiment"]["label"].shape == (2,)
    np.testing.assert_array_equal(out["ner"]["tags"].numpy(), model.serve(text)["ner"]["tags"].numpy())


@pytest.mark.large
def test_export_verifies_and_serves_dense_outputs(trained_tiny_ner_model, tmp_path):
    from kerasft.export.saved_model import export_model

    model, _ = trained_tiny_ner_model
    path = export_model(model, tmp_path, "ner")  # verifies in a fresh TF-only process
    loaded = tf.saved_model.load(str(path))
    texts = ["anna works at acme corp", "", "Zoë lives in paris ."]
    served = loaded.signatures["ner"](text=tf.constant(texts))
    expected = model.predict_text(texts)
    assert set(served) == set(expected)
    for key, value in served.items():
        assert value.shape[0] == 3, key  # batch-major
        got = value.numpy()
        if value.dtype == tf.string:
            got = np.char.decode(got.astype(bytes), "utf-8")
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, expected[key], atol=1e-5)
        else:
            np.testing.assert_array_equal(got, expected[key])
    assert expected["entity_start"][2, 0] == 0 and expected["entity_end"][2, 0] == 3
