"""Corpus annotation (`benco annotate`): the job (annotate.py), its resume state, lock and append-only
logs (runstate.py), the dataset files written at the end (outputs.py), and the decode / network / write
pipeline (pipeline.py). The Python API, `Annotator`, is in inference/."""
