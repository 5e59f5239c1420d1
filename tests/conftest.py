import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def synth_pairs(tmp_path_factory):
    """A dozen synthetic pairs from the photos bundled with scikit-image / scikit-learn."""
    from imdl_sigma.data.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("synth")
    return synthesize(out, 12, seed=3, config=SynthConfig(size=96), progress=False)
