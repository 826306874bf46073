"""A semantic segmentation head on the FPN (a simplified Panoptic FPN branch,
Kirillov et al. 2019), chosen to be cheap and exact on a CPU.

With P2..P5 (strides 4..32, C channels) and W = "channels" (128):
    y_k = ReLU(conv3x3_k(p_k) + b_k)          C -> W, padding 1, one per level
    a = y_5
    a = up(a, size of y_4) + y_4              up: bilinear, align_corners=False
    a = up(a, size of y_3) + y_3
    a = up(a, size of y_2) + y_2              (in this order)
    logits = conv1x1(a) + b                   W -> K + 1 (0 = background)
Bilinear resizing is linear, so a equals the sum of every y_k upsampled x2
again and again to 1/4 scale, up to rounding; the nested order needs three
upsamplings instead of six. No normalisation: nothing to fold. With the
input padded to a multiple of 32 every `up` is exactly x2.
Per image, at inference: logits -> bilinear to the padded input size (H, W)
(x4 when H = 4 h_2) -> crop the resized image (rh x rw, top-left) -> bilinear
to the original h x w -> argmax over classes (ties: the lowest class). The
x4 output pixel (y, x) depends only on (y, x), so computing only the crop is
identical. Tensor names: seg_head.convs.{i}.{weight,bias} (level in_features[i])
and seg_head.classifier.{weight,bias}.
"""
import torch.nn.functional as F
from torch import nn


def up(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SemanticFPNHead(nn.Module):
    """cfg: a "semantic_fpn" head dict; channels: the FPN's channels."""

    def __init__(self, cfg, channels):
        super().__init__()
        self.in_features = list(cfg["in_features"])
        self.convs = nn.ModuleList(nn.Conv2d(channels, cfg["channels"], 3, padding=1)
                                   for _ in self.in_features)
        self.classifier = nn.Conv2d(cfg["channels"], cfg["num_classes"] + 1, 1)

    def forward(self, feats):
        """Logits (N, K + 1, H/4, W/4) at the finest level's resolution."""
        ys = [F.relu(conv(feats[k])) for conv, k in zip(self.convs, self.in_features)]
        a = ys[-1]
        for y in reversed(ys[:-1]):
            a = up(a, y.shape[-2:]) + y
        return self.classifier(a)

    @staticmethod
    def postprocess(logits, padded_size, image_size, original_size):
        """logits (K + 1, h, w) of one image -> (labels (h0, w0) int64, the
        logits at the original size (K + 1, h0, w0))."""
        x = up(logits[None], padded_size)
        x = x[:, :, :image_size[0], :image_size[1]]
        x = up(x, original_size)[0]
        return x.argmax(dim=0), x
