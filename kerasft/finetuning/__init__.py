"""Fine-tuning strategies: schedules, losses, freezing, layer-wise rates, optimizers."""
