"""Corpus annotation (`benco annotate`): the job, its resume state and outputs (annotate.py), and the
decode / network / write pipeline (pipeline.py). The Python API, `Annotator`, is in inference/."""
