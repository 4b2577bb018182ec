"""Fine-tuning: the trainer and its strategies (freezing, multi-task, auxiliary MLM)."""
