"""Inference: the `Predictor` protocol every mask generator follows, and SIGMA's `Annotator`."""
