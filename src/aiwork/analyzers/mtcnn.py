"""MTCNN face detection (Zhang et al. 2016) on the CPU, with the P-, R- and O-net weights that
ship inside the ``facenet-pytorch`` wheel (``facenet_pytorch/data/{pnet,rnet,onet}.pt``, MIT).

The networks' layout is facenet-pytorch's (MIT licence); the cascade is re-implemented here on
torch and numpy so that facenet-pytorch is never imported: it imports torchvision, which does
not load beside the CPU torch this project pins. Only its weight files are read
(``torch.load(weights_only=True)``: tensors, no pickled code). A local folder holding the three
``.pt`` files may replace the package's.

Faces are counted, never identified: nothing here computes an embedding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.errors import AnalyzerUnavailable

__all__ = ["WEIGHT_FILES", "Mtcnn", "weights_folder"]

WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")


def weights_folder(chosen: str | None = None) -> Path:
    """The folder of the three weight files: ``chosen`` or facenet-pytorch's ``data``."""
    if chosen:
        folder = Path(chosen).expanduser()
    else:
        from aiwork.analyzers.models import package_dir

        found = package_dir("facenet_pytorch")
        if found is None:
            raise AnalyzerUnavailable(
                "needs the package facenet-pytorch (MTCNN weights); install it with "
                "pip install --no-deps facenet-pytorch==2.6.0")
        folder = found / "data"
    missing = [name for name in WEIGHT_FILES if not (folder / name).is_file()]
    if missing:
        raise AnalyzerUnavailable(f"MTCNN weight files missing from {folder}: {missing}")
    return folder


#: The three networks' layouts (facenet-pytorch's): convolutions (in, out, kernel, max-pool
#: kernel and stride or None), then a dense layer (in, out) or none, then the heads' widths
#: (face / not face first, then the box regression, and O-net's landmarks).
_LAYOUTS: dict[str, tuple[tuple[tuple[int, int, int, tuple[int, int] | None], ...],
                          tuple[int, int] | None, tuple[int, ...]]] = {
    "pnet.pt": (((3, 10, 3, (2, 2)), (10, 16, 3, None), (16, 32, 3, None)), None, (2, 4)),
    "rnet.pt": (((3, 28, 3, (3, 2)), (28, 48, 3, (3, 2)), (48, 64, 2, None)), (576, 128),
                (2, 4)),
    "onet.pt": (((3, 32, 3, (3, 2)), (32, 64, 3, (3, 2)), (64, 64, 3, (2, 2)),
                 (64, 128, 2, None)), (1152, 256), (2, 4, 10)),
}


def _network(layout: tuple[tuple[tuple[int, int, int, tuple[int, int] | None], ...],
                           tuple[int, int] | None, tuple[int, ...]]) -> Any:
    """One MTCNN stage, its layers named as facenet-pytorch names them (``conv1``,
    ``prelu1``, ``pool1``, ..., ``dense5``, ``dense6_1``, ``softmax6_1``), so its state dict
    loads strictly. ``forward`` gives (box regression, face probabilities)."""
    from torch import nn

    convs, dense, heads = layout

    class Stage(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for n, (width_in, width_out, kernel, pool) in enumerate(convs, 1):
                setattr(self, f"conv{n}", nn.Conv2d(width_in, width_out, kernel_size=kernel))
                setattr(self, f"prelu{n}", nn.PReLU(width_out))
                if pool is not None:
                    setattr(self, f"pool{n}", nn.MaxPool2d(pool[0], pool[1], ceil_mode=True))
            width, last = convs[-1][1], len(convs)
            if dense is not None:
                last += 1
                setattr(self, f"dense{last}", nn.Linear(*dense))
                setattr(self, f"prelu{last}", nn.PReLU(dense[1]))
                width = dense[1]
            self.head = f"{'dense' if dense else 'conv'}{last + 1}"
            for k, out in enumerate(heads, 1):
                setattr(self, f"{self.head}_{k}", nn.Linear(width, out) if dense
                        else nn.Conv2d(width, out, kernel_size=1))
            setattr(self, f"softmax{last + 1}_1", nn.Softmax(dim=1))
            self.softmax = f"softmax{last + 1}_1"

        def forward(self, x: Any) -> tuple[Any, Any]:
            for n in range(1, len(convs) + 1):
                x = getattr(self, f"prelu{n}")(getattr(self, f"conv{n}")(x))
                if convs[n - 1][3] is not None:
                    x = getattr(self, f"pool{n}")(x)
            if dense is not None:
                last = len(convs) + 1
                x = x.permute(0, 3, 2, 1).contiguous()
                x = getattr(self, f"prelu{last}")(getattr(self, f"dense{last}")(
                    x.view(x.shape[0], -1)))
            regression = getattr(self, f"{self.head}_2")(x)
            return regression, getattr(self, self.softmax)(getattr(self, f"{self.head}_1")(x))

    return Stage()


def _nets(folder: Path) -> tuple[Any, Any, Any]:
    import torch

    nets = []
    for name in WEIGHT_FILES:
        net = _network(_LAYOUTS[name])
        try:
            state = torch.load(str(folder / name), map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        except Exception as exc:  # a damaged or foreign file: say which one
            raise AnalyzerUnavailable(f"could not load MTCNN weights {folder / name}: {exc}") \
                from exc
        net.eval()
        nets.append(net)
    return nets[0], nets[1], nets[2]


def _nms(boxes: NDArray[np.float64], scores: NDArray[np.float64], threshold: float,
         method: str = "union") -> list[int]:
    """Greedy non-maximum suppression; ``method`` "union" (IoU) or "min" (overlap / smaller)."""
    if len(boxes) == 0:
        return []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        if method == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / (area[i] + area[rest] - inter)
        order = [int(j) for j, o in zip(rest, overlap, strict=True) if o <= threshold]
    return keep


def _square(boxes: NDArray[np.float64]) -> NDArray[np.float64]:
    out = boxes.copy()
    w = out[:, 2] - out[:, 0]
    h = out[:, 3] - out[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = out[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = out[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: NDArray[np.float64], reg: NDArray[np.float64]) -> NDArray[np.float64]:
    out = boxes.copy()
    w = out[:, 2] - out[:, 0] + 1
    h = out[:, 3] - out[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


class Mtcnn:
    """The three-stage cascade. ``detect`` returns ``(x1, y1, x2, y2, score)`` rows in pixels;
    ``score`` is the O-net's face probability."""

    def __init__(self, folder: Path, min_face: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709) -> None:
        from aiwork.analyzers.models import load_once

        self.pnet, self.rnet, self.onet = load_once(("mtcnn", str(folder.resolve())),
                                                    lambda: _nets(folder))
        self.min_face = max(12, int(min_face))
        self.thresholds = thresholds
        self.factor = factor

    def _crops(self, rgb: NDArray[np.uint8], boxes: NDArray[np.float64],
               size: int) -> tuple[Any, NDArray[np.intp]]:
        import cv2
        import torch

        height, width = rgb.shape[:2]
        crops = []
        kept = []
        for k, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(int)):
            # facenet-pytorch's pad(): 1-based corners clipped into the image.
            left, top = max(int(x1), 1) - 1, max(int(y1), 1) - 1
            right, bottom = min(int(x2), width), min(int(y2), height)
            if right <= left or bottom <= top:
                continue
            patch = cv2.resize(rgb[top:bottom, left:right], (size, size),
                               interpolation=cv2.INTER_AREA)
            crops.append(patch)
            kept.append(k)
        if not crops:
            return None, np.array([], dtype=np.intp)
        batch = torch.from_numpy(np.stack(crops).astype(np.float32)).permute(0, 3, 1, 2)
        return (batch - 127.5) * 0.0078125, np.array(kept, dtype=np.intp)

    def _stage(self, rgb: NDArray[np.uint8], boxes: NDArray[np.float64], net: Any, size: int,
               threshold: float) -> tuple[NDArray[np.float64], Any] | None:
        """One refining stage: ``net`` on the ``size`` x ``size`` crops of ``boxes``; the boxes
        it scores over ``threshold`` (their score in column 4) and its box regressions, or None
        when none is left."""
        batch, kept = self._crops(rgb, np.trunc(boxes), size)
        if batch is None:
            return None
        boxes = boxes[kept]
        reg, prob = net(batch)
        score = prob[:, 1].numpy().astype(np.float64)
        keep = score > threshold
        boxes, score, regs = boxes[keep], score[keep], reg.numpy()[keep]
        if not len(boxes):
            return None
        boxes[:, 4] = score
        return boxes, regs

    def detect(self, rgb: NDArray[np.uint8], min_face: int | None = None) -> NDArray[np.float64]:
        """Faces of at least ``min_face`` pixels (default: the instance's)."""
        import cv2
        import torch

        empty = np.zeros((0, 5), dtype=np.float64)
        height, width = rgb.shape[:2]
        scale = 12.0 / max(12, int(min_face or self.min_face))
        side = min(height, width) * scale
        scales = []
        while side >= 12:
            scales.append(scale)
            scale *= self.factor
            side *= self.factor
        found: list[NDArray[np.float64]] = []
        with torch.inference_mode():
            for s in scales:
                h, w = int(height * s + 1), int(width * s + 1)
                small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
                data = torch.from_numpy(small.astype(np.float32)).permute(2, 0, 1)[None]
                reg, prob = self.pnet((data - 127.5) * 0.0078125)
                probs = prob[0, 1].numpy()
                ys, xs = np.nonzero(probs >= self.thresholds[0])
                if not len(ys):
                    continue
                regs = reg[0].numpy()[:, ys, xs].T
                q1x = np.floor((2 * xs + 1) / s)
                q1y = np.floor((2 * ys + 1) / s)
                q2x = np.floor((2 * xs + 12) / s)
                q2y = np.floor((2 * ys + 12) / s)
                rows = np.column_stack([q1x, q1y, q2x, q2y, probs[ys, xs], regs])
                rows = rows[_nms(rows[:, :4], rows[:, 4], 0.5)]
                found.append(rows)
            if not found:
                return empty
            rows = np.concatenate(found)
            rows = rows[_nms(rows[:, :4], rows[:, 4], 0.7)]
            w = rows[:, 2] - rows[:, 0]
            h = rows[:, 3] - rows[:, 1]
            boxes = np.column_stack([rows[:, 0] + rows[:, 5] * w, rows[:, 1] + rows[:, 6] * h,
                                     rows[:, 2] + rows[:, 7] * w, rows[:, 3] + rows[:, 8] * h,
                                     rows[:, 4]])
            boxes = _square(np.trunc(boxes))
            # Stage 2: R-net on 24x24 crops.
            stage = self._stage(rgb, boxes, self.rnet, 24, self.thresholds[1])
            if stage is None:
                return empty
            boxes, regs = stage
            pick = _nms(boxes[:, :4], boxes[:, 4], 0.7)
            boxes, regs = boxes[pick], regs[pick]
            boxes = _square(_regress(boxes, regs))
            # Stage 3: O-net on 48x48 crops.
            stage = self._stage(rgb, boxes, self.onet, 48, self.thresholds[2])
            if stage is None:
                return empty
            boxes, regs = stage
            boxes = _regress(boxes, regs)
            boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7, "min")]
        boxes[:, 0] = np.clip(boxes[:, 0], 0, width)
        boxes[:, 2] = np.clip(boxes[:, 2], 0, width)
        boxes[:, 1] = np.clip(boxes[:, 1], 0, height)
        boxes[:, 3] = np.clip(boxes[:, 3], 0, height)
        return boxes.astype(np.float64)
