"""Face preprocessing of micro-expression clips: grayscale, face box, resize, fixed length."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dalib.data._me import Clip, FrameReadError

__all__ = [
    "FACE_SIZE",
    "NUM_FRAMES",
    "FaceBox",
    "PreparedClip",
    "clip_to_array",
    "find_face",
    "load_frames",
    "prepare_clip",
    "resample_frames",
]

#: Default face size ``(height, width)`` after cropping and resizing.
FACE_SIZE: tuple[int, int] = (112, 112)
#: Default clip length after temporal normalisation.
NUM_FRAMES: int = 16

_CASCADE = "haarcascade_frontalface_default.xml"


class FaceBox(NamedTuple):
    """A face box in pixels (``x, y`` the top-left corner) and how it was found.

    ``detected`` is ``False`` for the fallback (no face found: the largest
    centred square) and for cropped releases (``x = y = 0``, the whole frame).
    """

    x: int
    y: int
    w: int
    h: int
    detected: bool


class PreparedClip(NamedTuple):
    """A preprocessed clip ``[T, H, W]`` float32 in ``[0, 1]`` and the face box used."""

    array: np.ndarray
    box: FaceBox


def _cv2():
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - part of the `me` extra
        raise ImportError(
            "micro-expression preprocessing needs OpenCV; install it with "
            "`pip install dalib-jax[me]` (opencv-python-headless < 5, which ships the Haar "
            "cascades)."
        ) from err
    return cv2


@functools.cache
def _cascade():
    cv2 = _cv2()
    path = Path(cv2.data.haarcascades) / _CASCADE
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise FileNotFoundError(
            f"OpenCV's Haar cascade {path} is missing or unreadable; install "
            "opencv-python-headless < 5 (OpenCV 5 no longer ships the cascades)."
        )
    return classifier


def load_frames(paths: Sequence[str | Path]) -> np.ndarray:
    """Reads frame images as one grayscale ``[T, H, W]`` uint8 volume.

    Colour frames are converted with OpenCV's luma weights
    (``0.299 R + 0.587 G + 0.114 B``).

    Raises:
      FrameReadError: naming the file, if a frame cannot be decoded or its size
        differs from the first frame's.
    """
    cv2 = _cv2()
    frames = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            state = "does not exist" if not Path(path).is_file() else "cannot be decoded"
            raise FrameReadError(f"frame {path} {state} (not a readable image).")
        if frames and image.shape != frames[0].shape:
            raise FrameReadError(
                f"frame {path} is {image.shape[1]}x{image.shape[0]} but the clip's first frame "
                f"{paths[0]} is {frames[0].shape[1]}x{frames[0].shape[0]}."
            )
        frames.append(image)
    if not frames:
        raise FrameReadError("a clip has no frames.")
    return np.stack(frames)


def centre_square(height: int, width: int) -> FaceBox:
    """The largest square centred in a ``height x width`` frame (the fallback box)."""
    side = min(height, width)
    return FaceBox((width - side) // 2, (height - side) // 2, side, side, False)


def find_face(image: np.ndarray, *, min_fraction: float = 0.2) -> FaceBox:
    """The largest frontal face in a grayscale image, by OpenCV's Haar cascade.

    The detector is ``haarcascade_frontalface_default.xml`` from the
    ``opencv-python-headless`` wheel (Viola-Jones; offline, no download), run
    with scale factor 1.1, 5 neighbours and a minimum face side of
    ``min_fraction`` times the image's shorter side. When it finds no face,
    the fallback is :func:`centre_square` with ``detected=False``.

    Args:
      image: ``[H, W]`` uint8.
      min_fraction: smallest face side accepted, as a fraction of ``min(H, W)``.

    Returns:
      :class:`FaceBox`.

    References:
      Viola & Jones, "Rapid object detection using a boosted cascade of simple
      features", CVPR 2001.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(
            f"`image` must be grayscale [H, W] uint8, got {image.dtype} {image.shape}."
        )
    h, w = image.shape
    side = max(1, int(min_fraction * min(h, w)))
    faces = _cascade().detectMultiScale(
        image, scaleFactor=1.1, minNeighbors=5, minSize=(side, side)
    )
    if len(faces) == 0:
        return centre_square(h, w)
    x, y, fw, fh = max((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3])
    return FaceBox(x, y, fw, fh, True)


def resample_frames(volume: np.ndarray, num_frames: int) -> np.ndarray:
    r"""Temporal normalisation by linear interpolation to ``num_frames`` frames.

    Output frame :math:`k` samples the clip at :math:`s_k = k (T - 1) / (K - 1)`
    (first and last frames kept):
    :math:`V'_k = (1 - a) V_{\lfloor s_k \rfloor} + a V_{\lfloor s_k \rfloor + 1}`,
    :math:`a = s_k - \lfloor s_k \rfloor`. A one-frame clip is repeated. This
    stands in for the temporal interpolation model (TIM) of the literature,
    which interpolates along a curve fitted to the frames' graph embedding.

    Args:
      volume: ``[T, H, W]``.
      num_frames: ``K >= 2``.

    Returns:
      ``[K, H, W]`` float32.

    Examples:
      >>> import numpy as np
      >>> v = np.arange(3, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2))
      >>> resample_frames(v, 5)[:, 0, 0].tolist()
      [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    volume = np.asarray(volume, np.float32)
    if volume.ndim != 3:
        raise ValueError(f"`volume` must be [T, H, W], got shape {volume.shape}.")
    if int(num_frames) < 2:
        raise ValueError(f"`num_frames` must be >= 2, got {num_frames}.")
    t = volume.shape[0]
    if t == 1:
        return np.repeat(volume, num_frames, axis=0)
    s = np.arange(num_frames) * (t - 1) / (num_frames - 1)
    i0 = np.minimum(np.floor(s).astype(int), t - 1)
    i1 = np.minimum(i0 + 1, t - 1)
    a = (s - i0).astype(np.float32)[:, None, None]
    return (1.0 - a) * volume[i0] + a * volume[i1]


def prepare_clip(
    clip: Clip,
    *,
    size: tuple[int, int] = FACE_SIZE,
    num_frames: int | None = NUM_FRAMES,
    detect: bool = True,
    span: str = "all",
) -> PreparedClip:
    """Face-cropped, resized, fixed-length grayscale clip ``[T, H, W]`` in ``[0, 1]``.

    1. Frames are read as grayscale (:func:`load_frames`).
    2. With ``detect`` (raw releases), :func:`find_face` runs on the onset frame
       (the frame whose number is the coded onset, else the first) and the same
       box crops every frame; if no face is found the largest centred square is
       used and ``box.detected`` is ``False``. Without ``detect`` (cropped
       releases) the whole frame is kept.
    3. Each crop is resized to ``size`` with OpenCV (area averaging when
       shrinking, bilinear when enlarging).
    4. The clip is resampled to ``num_frames`` by :func:`resample_frames`
       (``None`` keeps every frame), and divided by 255.

    Args:
      clip: a :class:`~dalib.data.Clip` from a micro-expression reader.
      size: ``(height, width)`` of the output frames.
      num_frames: output length, or ``None``.
      detect: run the face detector (``True`` for raw releases).
      span: ``"all"`` frames of the clip folder, or ``"onset-offset"`` (the coded
        onset..offset frames, when both are coded and present).

    Returns:
      :class:`PreparedClip` ``(array [T, H, W] float32, box)``.

    Raises:
      FrameReadError: a frame cannot be read (named).
    """
    cv2 = _cv2()
    if span not in ("all", "onset-offset"):
        raise ValueError(f"`span` must be 'all' or 'onset-offset', got {span!r}.")
    h_out, w_out = (int(v) for v in size)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"`size` must be positive (height, width), got {size!r}.")
    frames = list(clip.frames)
    numbers = list(clip.frame_numbers)
    if span == "onset-offset" and clip.onset in numbers and clip.offset in numbers:
        lo, hi = numbers.index(clip.onset), numbers.index(clip.offset)
        if lo <= hi:
            frames, numbers = frames[lo : hi + 1], numbers[lo : hi + 1]
    volume = load_frames(frames)
    _, h, w = volume.shape
    if detect:
        onset = numbers.index(clip.onset) if clip.onset in numbers else 0
        box = find_face(volume[onset])
    else:
        box = FaceBox(0, 0, w, h, False)
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.x + box.w), min(h, box.y + box.h)
    crops = volume[:, y0:y1, x0:x1]
    shrink = crops.shape[1] >= h_out and crops.shape[2] >= w_out
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    resized = np.stack([cv2.resize(f, (w_out, h_out), interpolation=interp) for f in crops])
    out = resized.astype(np.float32)
    if num_frames is not None:
        out = resample_frames(out, int(num_frames))
    return PreparedClip(np.ascontiguousarray(out / 255.0, dtype=np.float32), box)


def clip_to_array(
    clip: Clip,
    *,
    size: tuple[int, int] = FACE_SIZE,
    num_frames: int | None = NUM_FRAMES,
    detect: bool = True,
    span: str = "all",
) -> np.ndarray:
    """The ``[T, H, W]`` float32 array of :func:`prepare_clip` (without the box)."""
    return prepare_clip(clip, size=size, num_frames=num_frames, detect=detect, span=span).array
