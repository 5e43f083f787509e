"""Face preprocessing of micro-expression clips: detection, crop, resize, temporal resampling."""

import numpy as np
import pytest

from dalib import data

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")


def _astronaut():
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY)


def _clip(folder, images, numbers=None, onset=None, offset=None):
    folder.mkdir(parents=True, exist_ok=True)
    numbers = list(numbers or range(1, len(images) + 1))
    paths = []
    for n, image in zip(numbers, images, strict=True):
        path = folder / f"img{n}.png"
        assert cv2.imwrite(str(path), image)
        paths.append(path)
    return data.Clip(
        path=folder,
        label="positive",
        subject="s1",
        file="s1/c",
        original_label="positive",
        frames=tuple(paths),
        frame_numbers=tuple(numbers),
        onset=numbers[0] if onset is None else onset,
        apex=None,
        offset=numbers[-1] if offset is None else offset,
    )


def _resample_loop(volume, k):
    """Plain loop: frame j samples position j (T-1)/(K-1) with linear weights."""
    t = volume.shape[0]
    out = np.zeros((k, *volume.shape[1:]))
    for j in range(k):
        s = j * (t - 1) / (k - 1) if t > 1 else 0.0
        lo = int(np.floor(s))
        hi = min(lo + 1, t - 1)
        a = s - lo
        out[j] = (1 - a) * volume[lo] + a * volume[hi]
    return out


def test_find_face_on_a_real_face():
    box = data.find_face(_astronaut())
    assert box.detected
    # the astronaut's face: centre near (x=225, y=115), about 100 px wide
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    assert abs(cx - 225) < 25 and abs(cy - 115) < 25
    assert 60 < box.w < 170 and 60 < box.h < 170


def test_find_face_falls_back_to_centre_square():
    noise = np.random.default_rng(0).integers(0, 256, (40, 48), dtype=np.uint8)
    box = data.find_face(noise)
    assert box == data.FaceBox(4, 0, 40, 40, False)
    tall = np.full((30, 20), 128, np.uint8)
    assert data.find_face(tall) == data.FaceBox(0, 5, 20, 20, False)
    with pytest.raises(ValueError, match="grayscale"):
        data.find_face(noise.astype(np.float32))


@pytest.mark.parametrize("t, k", [(7, 16), (20, 5), (2, 2), (5, 5), (1, 4)])
def test_resample_frames_matches_loop(t, k):
    volume = np.random.default_rng(t).random((t, 3, 4)).astype(np.float32)
    out = data.resample_frames(volume, k)
    assert out.shape == (k, 3, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, _resample_loop(volume, k), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[0], volume[0])
    np.testing.assert_allclose(out[-1], volume[-1])


def test_resample_frames_bad_input():
    with pytest.raises(ValueError, match="num_frames"):
        data.resample_frames(np.zeros((3, 2, 2)), 1)
    with pytest.raises(ValueError, match=r"\[T, H, W\]"):
        data.resample_frames(np.zeros((3, 2)), 4)


def test_prepare_clip_detects_on_onset_frame_and_crops(tmp_path):
    face = _astronaut()
    noise = np.random.default_rng(1).integers(0, 256, face.shape, dtype=np.uint8)
    shifted = np.roll(face, 3, axis=1)
    # frame 1 is noise: the detector must run on the onset frame (number 2)
    clip = _clip(tmp_path / "c", [noise, face, shifted], onset=2)
    prepared = data.prepare_clip(clip, size=(32, 24), num_frames=5)
    box = prepared.box
    assert box.detected and box == data.find_face(face)
    assert prepared.array.shape == (5, 32, 24) and prepared.array.dtype == np.float32
    assert 0.0 <= prepared.array.min() and prepared.array.max() <= 1.0
    # reference: the same box on every frame, resize, then the loop resampler
    frames = np.stack([noise, face, shifted])[:, box.y : box.y + box.h, box.x : box.x + box.w]
    resized = np.stack([cv2.resize(f, (24, 32), interpolation=cv2.INTER_AREA) for f in frames])
    expected = _resample_loop(resized.astype(np.float64), 5) / 255.0
    np.testing.assert_allclose(prepared.array, expected, atol=1e-5)
    assert data.clip_to_array(clip, size=(32, 24), num_frames=5).shape == (5, 32, 24)


def test_prepare_clip_without_detection_keeps_whole_frame(tmp_path):
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (20, 30), dtype=np.uint8) for _ in range(3)]
    clip = _clip(tmp_path / "c", images)
    prepared = data.prepare_clip(clip, size=(40, 60), num_frames=None, detect=False)
    assert prepared.box == data.FaceBox(0, 0, 30, 20, False)
    expected = np.stack([cv2.resize(i, (60, 40), interpolation=cv2.INTER_LINEAR) for i in images])
    np.testing.assert_allclose(prepared.array, expected / 255.0, atol=1e-6)


def test_prepare_clip_onset_offset_span(tmp_path):
    rng = np.random.default_rng(3)
    images = [np.full((12, 12), 20 * k, np.uint8) + rng.integers(0, 3, (12, 12), dtype=np.uint8)
              for k in range(8)]
    clip = _clip(tmp_path / "c", images, numbers=range(10, 18), onset=12, offset=15)
    whole = data.prepare_clip(clip, size=(12, 12), num_frames=None, detect=False)
    part = data.prepare_clip(
        clip, size=(12, 12), num_frames=None, detect=False, span="onset-offset"
    )
    assert whole.array.shape[0] == 8 and part.array.shape[0] == 4
    np.testing.assert_allclose(part.array, whole.array[2:6])
    with pytest.raises(ValueError, match="span"):
        data.prepare_clip(clip, span="apex")


def test_unreadable_and_mismatched_frames_are_named(tmp_path):
    images = [np.zeros((10, 10), np.uint8)] * 3
    clip = _clip(tmp_path / "c", images)
    clip.frames[1].write_bytes(b"\x89PNG broken")
    with pytest.raises(data.FrameReadError, match=r"img2\.png cannot be decoded"):
        data.prepare_clip(clip)
    clip = _clip(tmp_path / "d", [np.zeros((10, 10), np.uint8), np.zeros((12, 10), np.uint8)])
    with pytest.raises(data.FrameReadError, match=r"img2\.png is 10x12 but .*img1\.png is 10x10"):
        data.load_frames(clip.frames)
