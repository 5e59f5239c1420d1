"""Downstream: detector fine-tuning on SIGMA-annotated data, and the MTCL adapter."""
