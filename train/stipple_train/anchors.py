"""Anchors of the RPN, exactly as torchvision 0.14's AnchorGenerator.

Cell anchors of one level, from its sizes s (list) and the aspect ratios r
(height / width), all in float32:
    h_ratio = sqrt(r), w_ratio = 1 / h_ratio,
    w = w_ratio * s, h = h_ratio * s   (ratio-major: index = i_ratio * len(sizes) + i_size),
    cell = round([-w, -h, w, h] / 2)   (torch.round: half to even).
With sizes 32..512 and ratios (0.5, 1, 2) no value lies on a half, e.g.
P2: [-23, -11, 23, 11], [-16, -16, 16, 16], [-11, -23, 11, 23].

Each level's stride is the padded input size divided by the level's size,
per axis, in integer (floor) division: with a padded height of 800, P6
(13 rows) has stride 800 // 13 = 61, not 64. Anchors are
cell + (x * stride_w, y * stride_h, x * stride_w, y * stride_h), ordered by row
y, then column x, then cell anchor a (index (y * W + x) * A + a), which is
the order of the RPN head's outputs; levels are concatenated in order.
"""
import torch


def cell_anchors(sizes, aspect_ratios):
    """(len(ratios) * len(sizes), 4) float32 cell anchors of one level."""
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (h_ratios[:, None] * scales[None, :]).view(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def level_anchors(cell, grid, stride):
    """Anchors (H * W * A, 4) of one level: grid (H, W), stride (sh, sw)."""
    (gh, gw), (sh, sw) = grid, stride
    shifts_x = torch.arange(0, gw, dtype=torch.int32) * sw
    shifts_y = torch.arange(0, gh, dtype=torch.int32) * sh
    shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
    shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
    return (shifts.view(-1, 1, 4) + cell.view(1, -1, 4)).reshape(-1, 4)


class AnchorGenerator:
    """anchor_sizes: one list of sizes per level; aspect_ratios: shared."""

    def __init__(self, anchor_sizes, aspect_ratios):
        self.cells = [cell_anchors(s, aspect_ratios) for s in anchor_sizes]

    def num_anchors_per_location(self):
        return [c.shape[0] for c in self.cells]

    def __call__(self, padded_size, feature_sizes):
        """Anchors of every level, concatenated: padded_size (H, W) of the
        batch tensor, feature_sizes [(h, w)] per level."""
        if len(feature_sizes) != len(self.cells):
            raise ValueError("%d feature maps for %d anchor levels"
                             % (len(feature_sizes), len(self.cells)))
        out = []
        for cell, (gh, gw) in zip(self.cells, feature_sizes):
            stride = (padded_size[0] // gh, padded_size[1] // gw)
            out.append(level_anchors(cell, (gh, gw), stride))
        return torch.cat(out)
