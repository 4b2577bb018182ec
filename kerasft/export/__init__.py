"""Export for TF Serving: SavedModel versions, warmup requests and serving checks."""
