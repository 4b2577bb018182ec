"""Masked-LM pretraining: input pipeline and trainer."""
