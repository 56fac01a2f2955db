"""Trackers: the W&B mode and runs, the Weave check."""
