"""stipple_train - the PyTorch side of Stipple.

Reference modules with torchvision's names (resnet, fpn, model), a
dependency-free safetensors reader/writer, the model exporter and the golden
output generator that the C engine is tested against.
"""
