"""Inference: the `Predictor` protocol every mask generator follows, SIGMA's `Annotator` (the Python API)
and the boundary refinement of its masks at the edited image's resolution (refine.py)."""
