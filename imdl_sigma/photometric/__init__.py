"""Global photometric operations on images: the post-processing and attacks of the generator and the
robustness benchmark (degrade.py), the alignment that fits them to a pair before SIGMA compares it
(align.py), and the JPEG quality an image was saved at, read from its pixels (jpeg_quality.py)."""
