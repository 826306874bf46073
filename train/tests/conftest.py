"""Makes stipple_train importable without PYTHONPATH and limits torch to 2 threads."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
torch.set_num_threads(2)
