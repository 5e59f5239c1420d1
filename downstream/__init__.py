"""Downstream (paper Sec. 4.4, Table 2): the six detectors built by name from IMDL-BenCo's MODELS
(detectors.py; the CAT-Net and MVSS-Net wrappers; MTCL, implemented from its paper), their fine-tuning
on SIGMA-annotated data (finetune.py) and Table 2 (table2.py)."""
