"""Optimisation pieces shared by pretraining and fine-tuning: schedules, losses, optimizers, layer-wise rates.

A leaf package: it imports nothing else of kerasft.
"""
