"""Processors: the Faust app that turns raw changes into the canonical model."""
