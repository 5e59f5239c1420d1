"""Training: the loop (TrainRun), the loaders shared by every run on pairs, Stage I, Stage II and the
backbone feature cache. Losses live with the model (model/losses.py), checkpoints too (model/checkpoint.py)."""
