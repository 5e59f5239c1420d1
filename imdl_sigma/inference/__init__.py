"""Inference: the `Predictor` protocol every mask generator follows, SIGMA's `Annotator` (the Python API),
the boundary refinement of its masks at the edited image's resolution (refine.py) and each mask's
quality score, its estimated IoU with the true edit (quality.py)."""
