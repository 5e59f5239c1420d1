"""Training: the loop (TrainRun, every model built by its name in IMDL-BenCo's MODELS), the loaders shared
by every run on pairs, Stage I (SIGMA, the learned baselines, a plugin's pair model), Stage II (paper
Sec. 3.3) and the backbone feature cache.
Losses live with the model (model/losses.py), checkpoints too (model/checkpoint.py)."""
