"""Training: the loop (TrainRun, every model built by its name in IMDL-BenCo's MODELS), the loaders shared
by every run on pairs, SIGMA's Stage I and Stage II (paper Sec. 3.3), any other registered pair model on
Stage I pairs (pair_models.py: the learned baselines, a plugin's model) and the backbone feature cache.
Losses live with the model (model/losses.py), checkpoints too (model/checkpoint.py)."""
