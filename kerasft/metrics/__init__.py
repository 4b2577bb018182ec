"""Evaluation metrics that match the reference scripts of each task (accuracy / F1, conlleval)."""
