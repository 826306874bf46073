"""calibrate.py: the calibration written into a model file is each mask's
mean deterministic density on the dataset's images, the weights are left
as they were, and dense models are refused."""
import json
import struct

import numpy as np
import pytest
import torch

from stipple_train import calibrate, export
from stipple_train.export import load_model
from stipple_train.set_input import set_resize
from stipple_train.sparse import mask_densities, sampling_mode
from stipple_train.train import Dataset
from stipple_train.transform import preprocess
from test_train import write_dataset


def architecture(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(json.loads(data[8:8 + n])["__metadata__"]["architecture"])


def test_calibration_is_the_mean_mask_density(tmp_path):
    data = write_dataset(str(tmp_path / "data"), count=3)
    path = str(tmp_path / "m.stp")
    export.main(["--arch", "sparse-resnet18-fpn-detseg", "--random-init", "--seed", "3",
                 "--num-classes", "2", "-o", path])
    set_resize(path, 64, 96)
    before = load_model(path)
    assert calibrate.main([path, data, "--images", "3"]) == 0

    got = architecture(path)["backbone"]["sparse"]["calibration"]
    rows = []
    with torch.no_grad(), sampling_mode("deterministic"):
        for i in range(3):
            image, _ = Dataset(data).load(i)
            before.backbone(preprocess([image], before.arch["input"])[0])
            rows.append(mask_densities(before))
    want = np.mean(np.asarray(rows), axis=0)
    assert len(got) == 16 and np.allclose(got, want, rtol=0, atol=1e-12)
    assert all(0 < d <= 1 for d in got) and len(set(np.round(got, 6))) > 1
    after = load_model(path)
    for (name, a), (_, b) in zip(before.state_dict().items(), after.state_dict().items()):
        assert torch.equal(a, b), name


def test_dense_model_is_refused(tmp_path):
    data = write_dataset(str(tmp_path / "data"), count=1)
    path = str(tmp_path / "d.stp")
    export.main(["--arch", "resnet18-fpn-detseg", "--random-init", "--num-classes", "2", "-o", path])
    with pytest.raises(ValueError, match="no masks"):
        calibrate.calibrate(path, data, 1)
