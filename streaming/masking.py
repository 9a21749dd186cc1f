"""Privacy masks and the partners' watermark, painted into raw frames (yuv420p) in place.

Masks (*masquage des parties privatives*) are polygons in normalised image
coordinates (0..1, origin top left). They are rasterised once per mask set and
frame layout into the flat indices of the pixels they cover, so that painting a
frame is one numpy assignment per plane: luma to black (16), chroma to neutral
(128). Nothing is blended: what is under a mask is gone before encoding.

The watermark (agency, viewers, time) is rendered by Pillow when its text changes
(once a second) into a small bitmap, and stamped into the luma plane: white text,
dark outline. The pixels it covers are saved first and put back after the
agency's encode, so that the next agency's picture (or the centre's) does not
carry it; that costs a copy of the text's box, not of the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np

Polygon = Sequence[Sequence[float]]

BLACK_Y, NEUTRAL_UV = 16, 128


def load_font(size: int):
    """DejaVu Sans when installed (accents, dashes), else Pillow's own font."""
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def rasterise(polygons: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """A (height, width) boolean array: True where any polygon covers the pixel."""
    from PIL import Image, ImageDraw

    image = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(image)
    for polygon in polygons:
        points = [(float(x) * width, float(y) * height) for x, y in polygon]
        if len(points) >= 3:
            draw.polygon(points, fill=1, outline=1)
    return np.asarray(image, dtype=bool)


def _chroma(mask: np.ndarray) -> np.ndarray:
    """The 2×2-subsampled mask: a chroma sample is neutralised if any of its luma pixels is masked."""
    h, w = mask.shape
    padded = np.zeros((h + h % 2, w + w % 2), bool)
    padded[:h, :w] = mask
    return np.asarray(padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).any(axis=(1, 3)))


def _flat_indices(mask: np.ndarray, line_size: int) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return (rows.astype(np.intp) * line_size + cols).astype(np.intp)


def _flat(frame: av.VideoFrame, index: int) -> np.ndarray:
    # Through a memoryview (no copy, writable): numpy's stubs take no buffer protocol on 3.11.
    return np.frombuffer(memoryview(frame.planes[index]), np.uint8)


class MaskPainter:
    """Paints one set of masks on frames of one size (indices cached per plane layout)."""

    def __init__(self, polygons: Sequence[Polygon], width: int, height: int) -> None:
        self.width, self.height = width, height
        self.luma = rasterise(polygons, width, height)
        self.chroma = _chroma(self.luma)
        self.covered = float(self.luma.mean()) if self.luma.size else 0.0
        self._layouts: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def __bool__(self) -> bool:
        return bool(self.luma.any())

    def paint(self, frame: av.VideoFrame) -> None:
        """Black out the masked pixels of ``frame`` (yuv420p, this painter's size), in place."""
        layout = tuple(p.line_size for p in frame.planes)
        indices = self._layouts.get(layout)
        if indices is None:
            indices = (_flat_indices(self.luma, layout[0]), _flat_indices(self.chroma, layout[1]))
            self._layouts[layout] = indices
        luma_idx, chroma_idx = indices
        _flat(frame, 0)[luma_idx] = BLACK_Y
        _flat(frame, 1)[chroma_idx] = NEUTRAL_UV
        _flat(frame, 2)[chroma_idx] = NEUTRAL_UV


class Watermark:
    """A line of text burned into the bottom right of a picture: stamp, encode, restore."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.font = load_font(max(10, height // 26))
        self._text: str | None = None
        self._glyphs: np.ndarray | None = None
        self._outline: np.ndarray | None = None
        self._box = (0, 0, 0, 0)

    def _render(self, text: str) -> None:
        from PIL import Image, ImageDraw

        stroke = max(1, self.height // 360)
        margin = max(4, self.height // 40)
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        font = self.font
        left, top, right, bottom = probe.textbbox((0, 0), text, font=font, stroke_width=stroke)
        room = self.width - 2 * margin
        if right - left + 2 * stroke > room:
            # A long line (a service's full name) on a narrow picture: a smaller font, never a
            # line cut at the picture's edge — the watermark names who watches, whole.
            size = max(8, int(font.size * room / (right - left + 2 * stroke)))
            font = load_font(size)
            left, top, right, bottom = probe.textbbox((0, 0), text, font=font, stroke_width=stroke)
        w = min(self.width, int(right - left) + 2 * stroke)
        h = min(self.height, int(bottom - top) + 2 * stroke)
        fill = Image.new("L", (w, h), 0)
        full = Image.new("L", (w, h), 0)
        origin = (stroke - left, stroke - top)
        ImageDraw.Draw(fill).text(origin, text, fill=255, font=font)
        ImageDraw.Draw(full).text(origin, text, fill=255, font=font, stroke_width=stroke,
                                  stroke_fill=255)
        glyphs = np.asarray(fill) > 127
        self._glyphs, self._outline = glyphs, (np.asarray(full) > 127) & ~glyphs
        x0 = max(0, self.width - w - margin) // 2 * 2
        y0 = max(0, self.height - h - margin - self.height // 12) // 2 * 2
        self._box = (x0, y0, w, h)
        self._text = text

    def stamp(self, frame: av.VideoFrame, text: str) -> np.ndarray:
        """Burn ``text`` in; returns what it covered, for :meth:`restore`."""
        if text != self._text:
            self._render(text)
        assert self._glyphs is not None and self._outline is not None
        x0, y0, w, h = self._box
        p = frame.planes[0]
        luma = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)
        region = luma[y0:y0 + h, x0:x0 + w]
        saved = region.copy()
        region[self._outline] = BLACK_Y
        region[self._glyphs] = 235
        return saved

    def restore(self, frame: av.VideoFrame, saved: np.ndarray) -> None:
        x0, y0, w, h = self._box
        p = frame.planes[0]
        luma = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)
        luma[y0:y0 + h, x0:x0 + w] = saved


class Blank:
    """A whole picture blacked out with one line of text in its middle: what partners get from
    a PTZ camera moving outside its presets (nothing of the scene, and why)."""

    def __init__(self, width: int, height: int, text: str) -> None:
        from PIL import Image, ImageDraw

        self.width, self.height, self.text = width, height, text
        font = load_font(max(12, height // 14))
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
        w, h = min(width, int(right - left)), min(height, int(bottom - top))
        image = Image.new("L", (w, h), 0)
        ImageDraw.Draw(image).text((-left, -top), text, fill=255, font=font)
        self.glyphs = np.asarray(image) > 127
        self.x0 = max(0, (width - w) // 2)
        self.y0 = max(0, (height - h) // 2)

    def paint(self, frame: av.VideoFrame) -> None:
        """Black the whole of ``frame`` (yuv420p, this size) and write the text, in place."""
        _flat(frame, 0)[:] = BLACK_Y
        _flat(frame, 1)[:] = NEUTRAL_UV
        _flat(frame, 2)[:] = NEUTRAL_UV
        p = frame.planes[0]
        luma = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)
        h, w = self.glyphs.shape
        luma[self.y0:self.y0 + h, self.x0:self.x0 + w][self.glyphs] = 235


def camera_masks(camera) -> list[dict]:
    """Every privacy mask of ``camera`` for recorded images (extractions, snapshots): those of every
    preset included (which preset a PTZ camera was at is not recorded), lifted or not (a lift is
    for live viewing only)."""
    return [{"id": m.pk, "label": m.label, "preset": m.preset_id, "polygon": m.polygon}
            for m in camera.masks.order_by("pk")]
