"""Annotation: the Annotator API, corpus annotation, the demo."""
