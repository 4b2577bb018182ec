"""Readers that turn files into examples and text streams."""
