"""Training: settings, the epoch loop, both training modes, checkpoints, the run history, and the
model file a run writes.
"""
