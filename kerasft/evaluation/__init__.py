"""Prediction and evaluation of trained task models on labelled files."""
