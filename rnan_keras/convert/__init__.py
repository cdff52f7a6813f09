"""Conversion of official PyTorch RNAN checkpoints (state_dicts) to Keras models."""
