r"""kerasft-export: export a fine-tuned model for TF Serving, or verify an export.

Writes EXPORT_DIR/NAME/VERSION/ (next free version unless --version) through
a temporary directory renamed into place only after the export has been
verified in a fresh TF-only process (ops allow-listed for the TF Serving
model server, warmup requests replayed, outputs batch-major), then rewrites
EXPORT_DIR/models.config for `tensorflow_model_server --model_config_file`.

Examples:
  kerasft-export --model=runs/sentiment --name=sentiment
  kerasft-export --model=runs/sentiment/model.keras --name=sentiment --keep=3
  kerasft-export --verify=saved_models/sentiment/1
  kerasft-export --fill_mask=runs/demo/pretrain --name=fill_mask
"""


from absl import flags

from kerasft.cli import app

flags.DEFINE_string(
    "model", "", "A fine-tuning run directory or a .keras file to export."
)
flags.DEFINE_string("export_dir", "saved_models", "TF Serving model base directory.")
flags.DEFINE_string("name", "", "Model name (default: the model's first head).")
flags.DEFINE_integer("version", None, "Version number (default: next free).")
flags.DEFINE_integer("keep", None, "Keep only the newest N versions.")
flags.DEFINE_string(
    "base_path_prefix", None,
    "base_path prefix in models.config (e.g. /models for docker; default: "
    "absolute paths).",
)
flags.DEFINE_string("verify", "", "Only verify this SavedModel directory.")
flags.DEFINE_string(
    "fill_mask", "",
    "Export a kerasft-pretrain run directory as a `fill_mask` model (text with "
    "[MASK] in, top-k tokens and scores out) instead of a fine-tuned model.",
)
flags.DEFINE_bool("skip_verify", False, "Publish without the fresh-process check.")

FLAGS = flags.FLAGS


def main(argv):
    app.reject_extra_args(argv)
    if FLAGS.verify:
        from kerasft.export.verify import verify_saved_model

        report = verify_saved_model(FLAGS.verify)
        sigs = report.get("signatures", {})
        print(f"OK: {FLAGS.verify} loads with TF + tf.text only; signatures: "
              f"{', '.join(sorted(sigs))}")
        return
    if FLAGS.fill_mask:
        from kerasft.export.fill_mask import export_fill_mask

        out = export_fill_mask(FLAGS.fill_mask, FLAGS.export_dir, FLAGS.name or "fill_mask")
        print(f"Exported {out} (signatures: fill_mask, serving_default)")
        return
    if not FLAGS.model:
        raise ValueError(
            "Pass --model=RUN_DIR_OR_.keras, --fill_mask=PRETRAIN_RUN_DIR or "
            "--verify=SAVED_MODEL_DIR."
        )
    from kerasft.export.saved_model import export_model
    from kerasft.task import load_model, resolve_model_path

    model = load_model(resolve_model_path(FLAGS.model), compile=False)
    name = FLAGS.name or model.heads[0].name
    out = export_model(
        model, FLAGS.export_dir, name,
        version=FLAGS.version, keep=FLAGS.keep,
        verify=not FLAGS.skip_verify, base_path_prefix=FLAGS.base_path_prefix,
    )
    print(f"Exported {out} (signatures: {', '.join(h.name for h in model.heads)}, "
          "serving_default, tokenize)")


def run():
    app.run_app(main)


if __name__ == "__main__":
    run()
