"""Pair I/O and datasets: the pairs manifest, image reading and writing, network tensors, the training
dataset, dataset names, IMDL-BenCo dataset files and the published corpora' readers."""
