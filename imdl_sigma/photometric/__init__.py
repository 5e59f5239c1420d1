"""Global photometric operations on images: the post-processing and attacks of the generator and the
robustness benchmark (degrade.py), and the alignment that fits them to a pair before SIGMA compares it
(align.py)."""
