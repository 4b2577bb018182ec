"""Benchmark: kerasft against Hugging Face transformers on the same work, in one run.

Every figure comes from fresh processes, interleaved (kerasft, then its
peers, round after round) and the median of `--repeats` rounds is reported:

- the fp32 matmul ceiling of this machine (TensorFlow, 2048 x 2048);
- masked-LM pretraining, real (non-padding) tokens per second, BERT 4 layers
  x 256 (4 heads, FFN 1024), sequence 128, batch 32, packed rows: kerasft's
  own `kerasft-pretrain` (its library path end to end, checkpoint saves
  included; `metrics.json["real_tokens_per_second"]`), Hugging Face
  `BertForMaskedLM` as `run_mlm.py` trains it (grouped texts, the
  vocabulary projection at every position: "stock"), and the same modules
  with the projection at the masked positions only ("equal work"); both on
  PyTorch CPU, same vocabulary (the one kerasft trained), AdamW, gradient
  clipping, `DataCollatorForLanguageModeling` in the timed loop as in the
  Trainer. MFU counts the model FLOPs of real tokens only against the
  ceiling measured in the same run;
- fine-tuning, real tokens/s of the whole fit (input pipeline and, for
  kerasft, its tracing included), one epoch over the first 4,000 train
  examples at batch 32: `kerasft-finetune` with the sentiment and the NER
  head on the pretrained benchmark backbone, against a Trainer-style loop
  over `BertForSequenceClassification` / `BertForTokenClassification`
  (tokenize each batch, pad to its longest, first piece of a word tagged);
- serving: batch-1 p50 / p99 latency and batch-64 sentences/s of a kerasft
  SavedModel (that size, a sentiment head) in a process importing only
  TensorFlow and tensorflow-text, against the same-size
  `BertForSequenceClassification` with its fast tokenizer, padding to the
  longest text of each batch, on the shared sentiment test sentences;
- WordPiece training of a 16k vocabulary on 200k sentences (the shared
  datasets' train text, cycled) and tokenization sentences/s: kerasft
  (`train_wordpiece_vocabulary`, `TextPreprocessor`) against HF `tokenizers`'
  WordPiece trainer and `BertTokenizerFast`.

Prints one JSON line per figure, a table with the ratios, and last one JSON
object with `pretrain_vs_hf_stock`, `pretrain_vs_hf_equal_work`,
`mfu_real_tokens`, `serve_b1_p50_vs_hf` (kerasft / HF: lower is better),
`serve_b64_vs_hf` and `wordpiece_train_s`.

Needs the optional extra (`pip install -e '.[bench]'`: CPU PyTorch and
transformers); `make bench` installs it.

Usage:
    python benchmarks/bench_peers.py [--repeats 3] [--steps 60] [--parts pretrain,finetune,serve,tokenizer]
    python benchmarks/bench_peers.py --parts knobs   # XLA, threads, packing, saves, bf16 on/off
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BIN = pathlib.Path(sys.executable).parent
MODEL = dict(num_layers=4, hidden_dim=256, num_heads=4, intermediate_dim=1024)
SEQUENCE, BATCH, VOCAB, MASK_RATE = 128, 32, 16000, 0.15
WORDPIECE_SENTENCES = 200_000


# --- workers: each runs in its own fresh process -----------------------------

def worker_matmul(_args) -> dict:
    import tensorflow as tf

    n, repeat = 2048, 10
    results = {}
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.random.normal([n, n], dtype=tf.float32)
        a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)

        @tf.function
        def chain(a=a, b=b):
            c = a
            for _ in range(repeat):
                c = tf.matmul(c, b) * 1e-3
            return tf.reduce_sum(tf.cast(c, tf.float32))

        chain()  # trace and warm up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            chain().numpy()
            times.append(time.perf_counter() - start)
        results[dtype.name] = 2 * n**3 * repeat / statistics.median(times) / 1e9
    return {"matmul_gflops_float32": round(results["float32"], 1),
            "matmul_gflops_bfloat16": round(results["bfloat16"], 1)}


def _hf_config(vocab_size: int, **extra):
    import transformers

    return transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=MODEL["hidden_dim"],
        num_hidden_layers=MODEL["num_layers"], num_attention_heads=MODEL["num_heads"],
        intermediate_size=MODEL["intermediate_dim"], max_position_embeddings=512, **extra)


def _hf_tokenizer(vocab_txt):
    """`BertTokenizerFast` on a vocab.txt (transformers 5 takes it as `vocab`)."""
    import transformers

    tokenizer = transformers.BertTokenizerFast(vocab=str(vocab_txt), do_lower_case=True)
    lines = pathlib.Path(vocab_txt).read_text(encoding="utf-8").splitlines()
    if len(tokenizer) != len(lines):
        raise SystemExit(f"BertTokenizerFast read {len(tokenizer)} pieces of {vocab_txt}'s "
                         f"{len(lines)}.")
    return tokenizer


def worker_hf_pretrain(args) -> dict:
    """`run_mlm.py`'s training, as a plain loop (no Trainer overhead)."""
    import torch
    import transformers

    torch.manual_seed(0)
    tokenizer = _hf_tokenizer(args.vocab)
    texts = [line.strip() for line in open(args.corpus, encoding="utf-8") if line.strip()]
    ids = list(itertools.chain.from_iterable(tokenizer(texts)["input_ids"]))  # group_texts
    rows = [ids[i:i + SEQUENCE] for i in range(0, len(ids) - SEQUENCE + 1, SEQUENCE)]
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=MASK_RATE)
    model = transformers.BertForMaskedLM(_hf_config(len(tokenizer)))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, 10, args.steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    warmup, tokens, start = 5, 0, None
    for step in range(args.steps):
        if step == warmup:
            tokens, start = 0, time.perf_counter()
        first = (step * BATCH) % (len(rows) - BATCH)
        batch = collator([{"input_ids": row} for row in rows[first:first + BATCH]])
        if args.mode == "stock":
            loss = model(**batch).loss
        else:  # equal work: the vocabulary projection at masked positions only
            hidden = model.bert(input_ids=batch["input_ids"],
                                attention_mask=batch["attention_mask"]).last_hidden_state
            selected = batch["labels"] != -100
            loss = loss_fn(model.cls(hidden[selected]), batch["labels"][selected])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    seconds = time.perf_counter() - start
    return {"real_tokens_per_second": round(tokens / seconds, 1), "steps_timed": args.steps - warmup,
            "threads": torch.get_num_threads(), "loss": float(loss)}


def _read_task(task: str, path: str):
    """(texts or word lists, labels or tag lists) of a bench fine-tuning split."""
    if task == "classification":
        rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        return [r["text"] for r in rows], [r["label"] for r in rows]
    sentences, tags, words, labels = [], [], [], []
    for line in open(path, encoding="utf-8"):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append(words)
                tags.append(labels)
            words, labels = [], []
        else:
            words.append(fields[0])
            labels.append(fields[-1])
    if words:
        sentences.append(words)
        tags.append(labels)
    return sentences, tags


def worker_hf_finetune(args) -> dict:
    """A Trainer-style fine-tuning loop: tokenize, pad to the longest of the batch, step."""
    import torch
    import transformers

    torch.manual_seed(0)
    tokenizer = _hf_tokenizer(args.vocab)
    inputs, targets = _read_task(args.mode, args.corpus)
    names = sorted({t for row in targets for t in (row if args.mode == "ner" else [row])})
    index = {name: i for i, name in enumerate(names)}
    model_cls = (transformers.BertForSequenceClassification if args.mode == "classification"
                 else transformers.BertForTokenClassification)
    model = model_cls(_hf_config(len(tokenizer), num_labels=len(names)))
    model.train()
    steps = args.epochs * -(-len(inputs) // BATCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, steps // 10, steps)
    tokens, start = 0, time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(len(inputs)).tolist()
        for first in range(0, len(order), BATCH):
            chosen = order[first:first + BATCH]
            encoded = tokenizer([inputs[i] for i in chosen], padding="longest", truncation=True,
                                max_length=SEQUENCE, return_tensors="pt",
                                is_split_into_words=args.mode == "ner")
            if args.mode == "classification":
                labels = torch.tensor([index[targets[i]] for i in chosen])
            else:  # the first piece of each word carries its tag, as in run_ner.py
                labels = torch.full(encoded["input_ids"].shape, -100)
                for row, i in enumerate(chosen):
                    previous = None
                    for position, word in enumerate(encoded.word_ids(row)):
                        if word is not None and word != previous:
                            labels[row, position] = index[targets[i][word]]
                        previous = word
            loss = model(**encoded, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += int(encoded["attention_mask"].sum())
    return {"real_tokens_per_second": round(tokens / (time.perf_counter() - start), 1),
            "threads": torch.get_num_threads()}


def worker_hf_serve(args) -> dict:
    import numpy as np
    import torch
    import transformers

    torch.manual_seed(0)
    tokenizer = _hf_tokenizer(args.vocab)
    model = transformers.BertForSequenceClassification(_hf_config(len(tokenizer), num_labels=2))
    model.eval()
    texts = json.load(open(args.texts))

    def call(batch):
        encoded = tokenizer(batch, padding="longest", truncation=True, max_length=SEQUENCE,
                            return_tensors="pt")
        with torch.inference_mode():
            return torch.softmax(model(**encoded).logits, -1).numpy()

    for i in range(5):
        call(texts[i:i + 64])
        call(texts[i:i + 1])
    return _time_calls(call, texts, args.seconds, np)


def _time_calls(call, texts, seconds, np) -> dict:
    lat, i, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds / 2 or len(lat) < 50:
        t = time.perf_counter()
        call([texts[i % len(texts)]])
        lat.append(time.perf_counter() - t)
        i += 1
    n, batches, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds / 2 or batches < 5:
        call([texts[(batches * 64 + j) % len(texts)] for j in range(64)])
        n += 64
        batches += 1
    lat = np.array(lat) * 1000
    return {"p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "batch64_sentences_per_s": round(n / (time.perf_counter() - start), 1)}


def worker_kerasft_serve(args) -> dict:
    """The SavedModel as TF Serving runs it: TensorFlow and tf.text only."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops)

    fn = tf.saved_model.load(args.saved_model).signatures["serving_default"]
    texts = json.load(open(args.texts))

    def call(batch):
        return fn(text=tf.constant(batch))["probabilities"].numpy()

    for i in range(5):
        call(texts[i:i + 64])
        call(texts[i:i + 1])
    result = _time_calls(call, texts, args.seconds, np)
    result["modules"] = sorted(m for m in sys.modules if m.startswith(("kerasft", "keras_hub")))
    return result


def worker_kerasft_tokenizer(args) -> dict:
    import tensorflow as tf

    from kerasft.tokenizers import TextPreprocessor
    from kerasft.tokenizers.vocabulary import train_wordpiece_vocabulary

    texts = _sentences(args.corpus, WORDPIECE_SENTENCES)
    start = time.perf_counter()
    vocab = train_wordpiece_vocabulary(texts, VOCAB)
    train_s = time.perf_counter() - start
    pre = TextPreprocessor(vocab, sequence_length=SEQUENCE)
    sample = texts[:50_000]
    batches = tf.data.Dataset.from_tensor_slices(sample).batch(256)
    tokenize = tf.function(lambda t: pre(t)["token_ids"])
    for batch in batches.take(2):
        tokenize(batch)
    start = time.perf_counter()
    for batch in batches:
        tokenize(batch).numpy()
    return {"wordpiece_train_s": round(train_s, 2), "pieces": len(vocab),
            "tokenize_sentences_per_s": round(len(sample) / (time.perf_counter() - start), 1)}


def worker_hf_tokenizer(args) -> dict:
    import tokenizers

    texts = _sentences(args.corpus, WORDPIECE_SENTENCES)
    start = time.perf_counter()
    trained = tokenizers.BertWordPieceTokenizer(lowercase=True)
    trained.train_from_iterator(texts, vocab_size=VOCAB, show_progress=False)
    train_s = time.perf_counter() - start
    vocab_dir = pathlib.Path(args.output_dir) / "hf_wordpiece"
    vocab_dir.mkdir(parents=True, exist_ok=True)
    trained.save_model(str(vocab_dir))  # vocab.txt: its own 16k pieces
    tokenizer = _hf_tokenizer(vocab_dir / "vocab.txt")
    sample = texts[:50_000]
    tokenizer(sample[:512], padding="longest", truncation=True, max_length=SEQUENCE)
    start = time.perf_counter()
    for i in range(0, len(sample), 256):
        tokenizer(sample[i:i + 256], padding="longest", truncation=True, max_length=SEQUENCE)
    return {"wordpiece_train_s": round(train_s, 2), "pieces": trained.get_vocab_size(),
            "tokenize_sentences_per_s": round(len(sample) / (time.perf_counter() - start), 1)}


def _sentences(path: str, count: int) -> list[str]:
    lines = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
    return [lines[i % len(lines)] for i in range(count)]


WORKERS = {
    "matmul": worker_matmul,
    "hf_pretrain": worker_hf_pretrain,
    "hf_finetune": worker_hf_finetune,
    "hf_serve": worker_hf_serve,
    "kerasft_serve": worker_kerasft_serve,
    "kerasft_tokenizer": worker_kerasft_tokenizer,
    "hf_tokenizer": worker_hf_tokenizer,
}


# --- the orchestrator --------------------------------------------------------

def _env() -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        env.pop(var, None)  # every process may use every core, as a user's would
    return env


def _check(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0:
        sys.exit(f"{what} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def _worker(name: str, **options) -> dict:
    command = [sys.executable, "-P", __file__, f"--worker={name}"]
    command += [f"--{k}={v}" for k, v in options.items()]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=REPO)
    _check(done, name)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _binary(name: str, *flags: str, env: dict | None = None) -> None:
    done = subprocess.run([str(BIN / name), *flags, "--noprogress"], capture_output=True,
                          text=True, env={**_env(), **(env or {})}, cwd=REPO)
    _check(done, name)


def _kerasft_pretrain(corpus: pathlib.Path, out: pathlib.Path, steps: int, *extra: str,
                      env: dict | None = None) -> dict:
    flags = {"checkpoint_every": max(steps // 4, 1), "packing": "pack"}
    flags.update(flag.removeprefix("--").split("=", 1) for flag in extra)
    _binary("kerasft-pretrain", f"--corpus={corpus}", f"--output_dir={out}",
            f"--vocabulary_size={VOCAB}", f"--sequence_length={SEQUENCE}",
            *(f"--{k}={v}" for k, v in MODEL.items()), f"--batch_size={BATCH}",
            f"--steps={steps}", *(f"--{k}={v}" for k, v in flags.items()),
            # Rows of 128 from the first step (the default recipe's
            # sequence-length warmup would run shorter rows for half the run).
            "--short_sequence_length=0", "--validation_documents=64", "--seed=0", env=env)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"real_tokens_per_second": metrics["real_tokens_per_second"],
            "whole_run_real_tokens_per_second": round(
                metrics["tokens_seen"] / metrics["seconds"], 1)}


# Settings measured on and off (`--parts=knobs`): each a kerasft-pretrain run of
# the same steps on the sentiment text, compared over the whole run
# (tracing and every checkpoint save included).
KNOBS = {
    "default (no XLA, all threads, packed, a save every steps/4)": ((), None),
    "--jit_compile (XLA)": (("--jit_compile=true",), None),
    "one thread (TF_NUM_INTRAOP_THREADS=1)": ((), {"TF_NUM_INTRAOP_THREADS": "1",
                                                  "TF_NUM_INTEROP_THREADS": "1"}),
    "--packing=pad (one document a row)": (("--packing=pad",), None),
    "one save at the end (--checkpoint_every=steps)": (("--checkpoint_every=STEPS",), None),
    "--precision=mixed_bfloat16": (("--precision=mixed_bfloat16",), None),
}


def _flops_per_token(vocab_size: int) -> float:
    """Training FLOPs of one real token (6 x the forward multiply-adds x 2)."""
    d, ff, layers = MODEL["hidden_dim"], MODEL["intermediate_dim"], MODEL["num_layers"]
    dense = layers * (4 * d * d + 2 * d * ff)
    attention = layers * 2 * SEQUENCE * d  # scores and weighted values
    head = MASK_RATE * (d * d + d * vocab_size)  # at the masked positions only
    return 6 * (dense + attention + head)


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _corpora(work: pathlib.Path) -> dict[str, pathlib.Path]:
    """The sentiment train text, and longer documents from the shared data."""
    work.mkdir(parents=True, exist_ok=True)
    def jsonl_texts(path):
        return [json.loads(line)["text"] for line in open(path, encoding="utf-8") if line.strip()]

    sentiment = jsonl_texts(SHARED / "sentiment_rt_polarity/train.jsonl")
    style = jsonl_texts(SHARED / "style_shakespeare/train.jsonl")
    conll, words = [], []
    for line in open(SHARED / "ner_conll2003/train.conll", encoding="utf-8"):
        token = line.split(" ")[0].strip()
        if not token or token == "-DOCSTART-":
            if words:
                conll.append(" ".join(words))
            words = []
        else:
            words.append(token)
    files = {"sentiment": work / "sentiment.txt", "documents": work / "documents.txt",
             "all": work / "all_train_text.txt"}
    files["sentiment"].write_text("\n".join(sentiment) + "\n", encoding="utf-8")
    # 8 consecutive sentences a document: paragraphs of ~150-250 tokens.
    paragraphs = [" ".join(group[i:i + 8]) for group in (style, conll)
                  for i in range(0, len(group), 8)]
    files["documents"].write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
    files["all"].write_text("\n".join(sentiment + conll + style) + "\n", encoding="utf-8")
    return files


FINETUNE_EXAMPLES = 4000


def _finetune_splits(work: pathlib.Path) -> dict[str, tuple[pathlib.Path, pathlib.Path]]:
    """(train, validation) files per task: the first 4,000 train examples, 64 to validate."""
    def first(source: pathlib.Path, target: pathlib.Path, count: int, conll: bool) -> pathlib.Path:
        lines, seen = [], 0
        for line in open(source, encoding="utf-8"):
            if conll and not line.strip():
                seen += 1
            elif not conll and line.strip():
                seen += 1
            if seen > count:
                break
            lines.append(line)
        target.write_text("".join(lines), encoding="utf-8")
        return target

    splits = {}
    for task, folder, ext in (("classification", "sentiment_rt_polarity", "jsonl"),
                              ("ner", "ner_conll2003", "conll")):
        splits[task] = tuple(
            first(SHARED / folder / f"{split}.{ext}", work / f"finetune_{task}_{split}.{ext}",
                  count, ext == "conll")
            for split, count in (("train", FINETUNE_EXAMPLES), ("validation", 64)))
    return splits


def _kerasft_finetune(task: str, backbone: pathlib.Path, train: pathlib.Path,
                      validation: pathlib.Path, out: pathlib.Path, epochs: int) -> dict:
    _binary("kerasft-finetune", f"--head={'sentiment' if task == 'classification' else 'ner'}",
            f"--backbone={backbone}", f"--train={train}", f"--validation={validation}",
            f"--output_dir={out}", f"--sequence_length={SEQUENCE}", f"--epochs={epochs}",
            f"--batch_size={BATCH}", "--seed=0")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"real_tokens_per_second": round(metrics["train_tokens"] / metrics["train_seconds"], 1)}


def _serving_models(work: pathlib.Path, backbone: pathlib.Path) -> pathlib.Path:
    """A kerasft sentiment SavedModel of the benchmark size (speed only)."""
    export_root = work / "saved_models"
    existing = sorted(export_root.glob("bench/[0-9]*"))
    if existing:
        return existing[-1]
    data = SHARED / "sentiment_rt_polarity"
    _binary("kerasft-finetune", "--head=sentiment", f"--backbone={backbone}",
            f"--train={data / 'validation.jsonl'}", f"--validation={data / 'validation.jsonl'}",
            f"--output_dir={work / 'finetune'}", f"--sequence_length={SEQUENCE}",
            "--epochs=1", f"--batch_size={BATCH}", "--seed=0")
    _binary("kerasft-export", f"--model={work / 'finetune'}", f"--export_dir={export_root}",
            "--name=bench")
    return sorted(export_root.glob("bench/[0-9]*"))[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--mode", default="stock")
    parser.add_argument("--vocab")
    parser.add_argument("--corpus")
    parser.add_argument("--texts")
    parser.add_argument("--saved_model")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="pretrain,finetune,serve,tokenizer")
    parser.add_argument("--pretrain_corpora", default="sentiment,documents")
    parser.add_argument("--output_dir", default=str(REPO / "runs" / "bench_peers"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    import importlib.util

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"bench_peers needs {', '.join(missing)}: pip install -e '.[bench]' "
                 "(or run `make bench`, which installs the extra).")
    work, parts = pathlib.Path(args.output_dir), set(args.parts.split(","))
    corpora = _corpora(work)
    ceiling = [_worker("matmul") for _ in range(args.repeats)]
    gflops = _median(ceiling, "matmul_gflops_float32")
    _emit({"figure": "matmul_ceiling", "gflops_float32": gflops,
           "gflops_bfloat16": _median(ceiling, "matmul_gflops_bfloat16")})
    summary: dict = {"matmul_gflops_float32": gflops}
    rows = []  # (work, kerasft, peer, ratio text)
    vocab = backbone = None
    if parts & {"pretrain", "serve", "finetune"}:
        for corpus_name in args.pretrain_corpora.split(","):
            runs = {"kerasft": [], "hf_stock": [], "hf_equal_work": []}
            for r in range(args.repeats):
                out = work / f"pretrain-{corpus_name}-{r}"
                runs["kerasft"].append(_kerasft_pretrain(corpora[corpus_name], out, args.steps))
                vocab = out / "vocab.txt"
                backbone = backbone or out / "backbone"
                for mode in ("stock", "equal"):
                    runs["hf_stock" if mode == "stock" else "hf_equal_work"].append(_worker(
                        "hf_pretrain", mode=mode, vocab=vocab, corpus=corpora[corpus_name],
                        steps=args.steps))
            vocab_size = len(vocab.read_text(encoding="utf-8").splitlines())
            rates = {k: _median(v, "real_tokens_per_second") for k, v in runs.items()}
            mfu = rates["kerasft"] * _flops_per_token(vocab_size) / (gflops * 1e9)
            _emit({"figure": "pretrain", "corpus": corpus_name, "vocabulary": vocab_size,
                   "real_tokens_per_second": rates, "mfu_real_tokens": round(mfu, 3),
                   "runs": runs})
            for peer in ("hf_stock", "hf_equal_work"):
                rows.append((f"pretrain {corpus_name}, real tokens/s, vs {peer}",
                             rates["kerasft"], rates[peer], rates["kerasft"] / rates[peer]))
            if "pretrain_vs_hf_stock" not in summary:  # the first corpus is the headline
                summary["pretrain_vs_hf_stock"] = round(rates["kerasft"] / rates["hf_stock"], 3)
                summary["pretrain_vs_hf_equal_work"] = round(
                    rates["kerasft"] / rates["hf_equal_work"], 3)
                summary["mfu_real_tokens"] = round(mfu, 3)
    if "finetune" in parts:
        for task, (train, validation) in _finetune_splits(work).items():
            runs = {"kerasft": [], "hf": []}
            for r in range(args.repeats):
                runs["kerasft"].append(_kerasft_finetune(
                    task, backbone, train, validation, work / f"finetune-{task}-{r}", args.epochs))
                runs["hf"].append(_worker("hf_finetune", mode=task, vocab=vocab, corpus=train,
                                          epochs=args.epochs))
            rates = {k: _median(v, "real_tokens_per_second") for k, v in runs.items()}
            _emit({"figure": "finetune", "task": task, "examples": FINETUNE_EXAMPLES,
                   "epochs": args.epochs, "real_tokens_per_second": rates, "runs": runs})
            rows.append((f"fine-tune {task} (whole fit), real tokens/s", rates["kerasft"],
                         rates["hf"], rates["kerasft"] / rates["hf"]))
            summary[f"finetune_{task}_vs_hf"] = round(rates["kerasft"] / rates["hf"], 3)
    if "serve" in parts:
        saved_model = _serving_models(work, backbone)
        texts = work / "test_texts.json"
        texts.write_text(json.dumps(
            [json.loads(line)["text"]
             for line in open(SHARED / "sentiment_rt_polarity/test.jsonl", encoding="utf-8")]))
        served = {"kerasft": [], "hf": []}
        for _ in range(args.repeats):
            served["kerasft"].append(_worker("kerasft_serve", saved_model=saved_model,
                                             texts=texts, seconds=args.seconds))
            served["hf"].append(_worker("hf_serve", vocab=vocab, texts=texts,
                                        seconds=args.seconds))
        figures = {side: {k: _median(v, k) for k in ("p50_ms", "p99_ms", "batch64_sentences_per_s")}
                   for side, v in served.items()}
        _emit({"figure": "serve", "saved_model": str(saved_model), **figures,
               "kerasft_process_imported": served["kerasft"][0]["modules"]})
        k, h = figures["kerasft"], figures["hf"]
        rows += [("serve batch-1 p50 ms (lower is better)", k["p50_ms"], h["p50_ms"],
                  k["p50_ms"] / h["p50_ms"]),
                 ("serve batch-1 p99 ms (lower is better)", k["p99_ms"], h["p99_ms"],
                  k["p99_ms"] / h["p99_ms"]),
                 ("serve batch-64 sentences/s", k["batch64_sentences_per_s"],
                  h["batch64_sentences_per_s"],
                  k["batch64_sentences_per_s"] / h["batch64_sentences_per_s"])]
        summary["serve_b1_p50_vs_hf"] = round(k["p50_ms"] / h["p50_ms"], 3)
        summary["serve_b64_vs_hf"] = round(
            k["batch64_sentences_per_s"] / h["batch64_sentences_per_s"], 3)
    if "knobs" in parts:
        knobs = {}
        for label, (extra, env) in KNOBS.items():
            extra = [f.replace("STEPS", str(args.steps)) for f in extra]
            knobs[label] = _kerasft_pretrain(
                corpora["sentiment"], work / f"knob-{len(knobs)}", args.steps, *extra, env=env)
        _emit({"figure": "knobs", "steps": args.steps, **knobs})
        base = knobs[next(iter(KNOBS))]["whole_run_real_tokens_per_second"]
        for label, figures in knobs.items():
            rate = figures["whole_run_real_tokens_per_second"]
            rows.append((f"knob: {label}, real tokens/s (whole run)", rate, base, rate / base))
    if "tokenizer" in parts:
        trained = {"kerasft": [], "hf": []}
        for _ in range(args.repeats):
            trained["kerasft"].append(_worker("kerasft_tokenizer", corpus=corpora["all"]))
            trained["hf"].append(_worker("hf_tokenizer", corpus=corpora["all"],
                                         output_dir=work))
        figures = {side: {k: _median(v, k) for k in ("wordpiece_train_s", "pieces",
                                                     "tokenize_sentences_per_s")}
                   for side, v in trained.items()}
        _emit({"figure": "tokenizer", "sentences": WORDPIECE_SENTENCES, **figures})
        k, h = figures["kerasft"], figures["hf"]
        rows += [(f"WordPiece training s, {VOCAB} pieces / 200k sentences (lower is better)",
                  k["wordpiece_train_s"], h["wordpiece_train_s"],
                  k["wordpiece_train_s"] / h["wordpiece_train_s"]),
                 ("tokenization sentences/s", k["tokenize_sentences_per_s"],
                  h["tokenize_sentences_per_s"],
                  k["tokenize_sentences_per_s"] / h["tokenize_sentences_per_s"])]
        summary["wordpiece_train_s"] = k["wordpiece_train_s"]
    print(f"\nkerasft vs Hugging Face ({os.cpu_count()} cores, median of {args.repeats} "
          f"fresh-process rounds; fp32 matmul ceiling {gflops:.0f} GFLOP/s)")
    print(f"| {'work':72} | {'kerasft':>10} | {'peer':>10} | {'ratio':>6} |")
    print(f"| {'-' * 72} | {'-' * 10} | {'-' * 10} | {'-' * 6} |")
    for name, ours, theirs, ratio in rows:
        print(f"| {name:72} | {ours:10.1f} | {theirs:10.1f} | {ratio:6.2f} |")
    if "mfu_real_tokens" in summary:
        print(f"MFU of kerasft pretraining on real tokens: {summary['mfu_real_tokens']:.1%}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
