"""A parametric grayscale face, facial action units as displacement fields, and a clip renderer.

Geometry lives in *face units*: ``X = (x - cx) / a`` and ``Y = (y - cy) / a``
with ``(cx, cy)`` the face centre and ``a`` the half-width of the face in
pixels, so the outline is the ellipse ``X² + (Y / aspect)² = 1``. A face is
drawn once per clip (smooth shapes, a per-subject skin texture sampled in face
units, the database's lighting); every frame is that image warped by a
displacement field (a sum of Gaussian-windowed displacements, one set per
action unit, scaled by the expression's intensity at that time, plus a blink
and a small rigid head motion), darkened a little where the action unit
creases the skin, then passed through the camera (gain flicker, blur, noise,
8-bit quantisation).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["ACTION_UNITS", "FaceParams", "Imaging", "render_clip", "render_neutral", "sample_face"]


@dataclasses.dataclass(frozen=True)
class FaceParams:
    """One subject's face (face units; grey levels on the 0–255 scale).

    Attributes:
      aspect: face height / width.
      skin: mean skin grey level under unit light.
      hair: hair grey level.
      hairline: ``Y`` of the hairline at the centre.
      brow_y, brow_dark, brow_thick: eyebrow height, darkness (fraction of skin
        removed) and half-thickness.
      eye_x, eye_y, eye_w, eye_h: eye centres ``(±eye_x, eye_y)`` and half sizes.
      iris: iris grey level.
      nose_y, nose_w: nostril height and half-spacing.
      mouth_y, mouth_w, lip_dark: mouth height, half-width, lip darkness.
      texture: amplitude of the multiplicative skin texture.
      texture_seed: seed of the subject's texture field.
      expressivity: the subject's gain on every action unit.
    """

    aspect: float = 1.3
    skin: float = 170.0
    hair: float = 40.0
    hairline: float = -0.95
    brow_y: float = -0.52
    brow_dark: float = 0.55
    brow_thick: float = 0.045
    eye_x: float = 0.40
    eye_y: float = -0.25
    eye_w: float = 0.17
    eye_h: float = 0.075
    iris: float = 50.0
    nose_y: float = 0.42
    nose_w: float = 0.11
    mouth_y: float = 0.78
    mouth_w: float = 0.33
    lip_dark: float = 0.3
    texture: float = 0.06
    texture_seed: int = 0
    expressivity: float = 1.0


@dataclasses.dataclass(frozen=True)
class Imaging:
    """How one database's camera and lighting see a face.

    Attributes:
      size: frame ``(width, height)`` in pixels.
      face_width: face width as a fraction of the frame width.
      face_y: face centre height as a fraction of the frame height.
      background: background grey level.
      light: ``(gx, gy)`` linear light gradient across the face (fraction per face unit).
      gain, offset: grey level ``= gain · radiance + offset``.
      gamma: tone curve exponent on the 0–1 scale.
      vignette: light fall-off towards the frame corners (fraction).
      nir: near-infrared look (skin brighter and flatter, dark features paler).
      texture_gain: factor on the subjects' skin texture (< 1: texture lost).
      blur: Gaussian blur of every frame (pixels, 0 = none).
      noise: sensor noise standard deviation (grey levels).
      flicker: relative amplitude of a lamp flicker on the frame gain.
      flicker_hz: lamp flicker frequency as sampled by the camera (Hz).
      head_motion: head drift amplitude over a clip (face units).
      jitter: per-clip random placement of the face (face units).
    """

    size: tuple[int, int] = (192, 144)
    face_width: float = 0.42
    face_y: float = 0.52
    background: float = 90.0
    light: tuple[float, float] = (0.0, -0.05)
    gain: float = 1.0
    offset: float = 0.0
    gamma: float = 1.0
    vignette: float = 0.0
    nir: bool = False
    texture_gain: float = 1.0
    blur: float = 0.0
    noise: float = 1.5
    flicker: float = 0.0
    flicker_hz: float = 0.0
    head_motion: float = 0.01
    jitter: float = 0.04


# Action units: (centre X, centre Y, sigma, dX, dY) per component in face units;
# sides mirrored (X -> -X, dX -> -dX) unless the AU is central (X = 0). "shade"
# gives creases: (X, Y, sigma, darkening at full intensity).
ACTION_UNITS: Mapping[int, Mapping[str, tuple]] = {
    1: {"move": ((0.16, -0.52, 0.13, 0.0, -1.0),), "shade": ((0.0, -0.72, 0.2, 0.05),)},
    2: {"move": ((0.58, -0.52, 0.15, 0.0, -1.0),), "shade": ()},
    4: {
        "move": ((0.28, -0.50, 0.16, -0.5, 1.0),),
        "shade": ((0.0, -0.45, 0.07, 0.12),),
    },
    5: {"move": ((0.40, -0.33, 0.08, 0.0, -1.0),), "shade": ()},
    6: {"move": ((0.45, 0.05, 0.18, 0.0, -1.0),), "shade": ((0.52, -0.12, 0.08, 0.06),)},
    7: {"move": ((0.40, -0.17, 0.08, 0.0, -1.0),), "shade": ()},
    9: {
        "move": ((0.13, 0.22, 0.12, 0.0, -1.0), (0.2, -0.48, 0.12, 0.0, 0.5)),
        "shade": ((0.1, 0.0, 0.08, 0.12),),
    },
    10: {"move": ((0.15, 0.68, 0.12, 0.0, -1.0),), "shade": ((0.22, 0.5, 0.08, 0.06),)},
    12: {
        "move": ((0.33, 0.78, 0.13, 0.6, -1.0),),
        "shade": ((0.38, 0.55, 0.09, 0.08),),
    },
    14: {"move": ((0.34, 0.78, 0.1, 1.0, 0.0),), "shade": ((0.4, 0.78, 0.05, 0.08),)},
    15: {"move": ((0.33, 0.80, 0.13, 0.2, 1.0),), "shade": ((0.36, 0.95, 0.08, 0.05),)},
    17: {"move": ((0.0, 1.05, 0.18, 0.0, -1.0),), "shade": ((0.0, 1.05, 0.1, 0.06),)},
    20: {"move": ((0.33, 0.80, 0.12, 1.0, 0.2),), "shade": ()},
    24: {"move": ((0.0, 0.72, 0.08, 0.0, 0.6), (0.0, 0.86, 0.08, 0.0, -0.6)), "shade": ()},
    26: {"move": ((0.0, 1.0, 0.3, 0.0, 1.0),), "shade": ()},
}

_BLINK = ((0.40, -0.31, 0.07, 0.0, 1.0),)


def sample_face(
    rng: np.random.Generator,
    *,
    skin: tuple[float, float] = (165.0, 15.0),
    texture: tuple[float, float] = (0.07, 0.015),
    expressivity: tuple[float, float] = (1.0, 0.15),
) -> FaceParams:
    """Draws one subject's face; ``skin``, ``texture``, ``expressivity`` are ``(mean, sd)``."""

    def n(mean, sd, lo=None, hi=None):
        v = rng.normal(mean, sd)
        lo = -np.inf if lo is None else lo
        hi = np.inf if hi is None else hi
        return float(np.clip(v, lo, hi))

    return FaceParams(
        aspect=n(1.30, 0.06, 1.15, 1.45),
        skin=n(skin[0], skin[1], 90, 225),
        hair=n(45, 18, 10, 110),
        hairline=n(-0.95, 0.06),
        brow_y=n(-0.52, 0.03),
        brow_dark=n(0.5, 0.08, 0.3, 0.7),
        brow_thick=n(0.045, 0.008, 0.03, 0.065),
        eye_x=n(0.40, 0.02),
        eye_y=n(-0.25, 0.02),
        eye_w=n(0.17, 0.012),
        eye_h=n(0.075, 0.008, 0.055, 0.095),
        iris=n(45, 12, 15, 90),
        nose_y=n(0.42, 0.03),
        nose_w=n(0.11, 0.01),
        mouth_y=n(0.78, 0.04),
        mouth_w=n(0.33, 0.025),
        lip_dark=n(0.3, 0.06, 0.15, 0.45),
        texture=n(texture[0], texture[1], 0.0, 0.2),
        texture_seed=int(rng.integers(2**31)),
        expressivity=n(expressivity[0], expressivity[1], 0.5, 1.6),
    )


def _sig(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _texture_field(face: FaceParams, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The subject's skin texture at face coordinates (smooth noise, zero mean, unit sd)."""
    import cv2

    grid = 40  # cells over [-1.6, 1.6] x [-1.6, 2.0] face units
    rng = np.random.default_rng(face.texture_seed)
    fine = rng.standard_normal((grid * 2, grid * 2)).astype(np.float32)
    coarse = rng.standard_normal((grid // 2, grid // 2)).astype(np.float32)
    coarse = cv2.resize(coarse, (grid * 2, grid * 2), interpolation=cv2.INTER_CUBIC)
    field = fine + 0.8 * coarse
    mx = ((X + 1.6) / 3.2 * (grid * 2 - 1)).astype(np.float32)
    my = ((Y + 1.6) / 3.6 * (grid * 2 - 1)).astype(np.float32)
    out = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out / 1.28


def render_neutral(
    face: FaceParams, imaging: Imaging, centre: tuple[float, float], a: float
) -> np.ndarray:
    """The face at rest as radiance ``[H, W]`` float32 (before the camera's tone curve and noise).

    Args:
      face: the subject.
      imaging: the database's lighting and camera (``size``, ``background``, ``light``, ``nir``).
      centre: face centre ``(cx, cy)`` in pixels.
      a: face half-width in pixels.
    """
    w, h = imaging.size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    X = (xs - centre[0]) / a
    Y = (ys - centre[1]) / a
    soft = 1.5 / a  # about 1.5 pixels in face units
    asp = face.aspect
    r = np.sqrt(X * X + (Y / asp) ** 2)
    nir = imaging.nir
    skin = face.skin * (1.12 if nir else 1.0) + (25.0 if nir else 0.0)
    feat = 0.55 if nir else 1.0  # how dark features stay (NIR: iris, brows, lips paler)
    tex = face.texture * imaging.texture_gain

    # background with a soft vertical gradient
    img = np.full((h, w), imaging.background, np.float32) * (1.0 - 0.15 * (ys / h - 0.5))
    # neck
    neck = _sig((0.42 - np.abs(X)) / soft) * _sig((Y - 0.8 * asp) / soft)
    img = img + neck * (0.82 * skin - img)
    # skin with shading and texture
    shade = 1.0 - 0.22 * X * X - 0.10 * (Y / asp) ** 2
    shade = shade * (1.0 + imaging.light[0] * X + imaging.light[1] * Y)
    texture = _texture_field(face, X, Y)
    skin_img = skin * shade * (1.0 + tex * texture)
    # eye sockets and the cheek-bone highlight, nose shadows and bridge highlight
    for sx in (-1.0, 1.0):
        ex = sx * face.eye_x
        skin_img *= 1.0 - 0.16 * feat * np.exp(
            -((X - ex) ** 2 / (2 * 0.17**2) + (Y - face.eye_y + 0.03) ** 2 / (2 * 0.10**2))
        )
        skin_img *= 1.0 + 0.06 * np.exp(-((X - sx * 0.45) ** 2 + (Y - 0.12) ** 2) / (2 * 0.14**2))
        skin_img *= 1.0 - 0.12 * feat * np.exp(
            -((X - sx * 0.12) ** 2 / (2 * 0.04**2) + (Y - 0.15) ** 2 / (2 * 0.16**2))
        )
    skin_img *= 1.0 + 0.08 * np.exp(-(X**2 / (2 * 0.05**2) + (Y - 0.05) ** 2 / (2 * 0.25**2)))
    # mouth: lips and the dark line between them
    mx = X / face.mouth_w
    my = Y - face.mouth_y
    lips = _sig((1.0 - mx * mx - (my / 0.085) ** 2) / 0.15)
    skin_img *= 1.0 - face.lip_dark * feat * lips
    line = np.exp(-((my + 0.02 * (1 - mx * mx)) ** 2) / (2 * 0.016**2)) * _sig(
        (1.0 - np.abs(mx)) / 0.08
    )
    skin_img *= 1.0 - 0.6 * feat * line
    # nostrils
    for sx in (-1.0, 1.0):
        nos = np.exp(
            -((X - sx * face.nose_w) ** 2 / 0.00245 + (Y - face.nose_y) ** 2 / 0.000968)
        )
        skin_img *= 1.0 - 0.55 * feat * nos
    # eyebrows
    for sx in (-1.0, 1.0):
        bx = (X - sx * face.eye_x) / 0.24
        by = Y - (face.brow_y - 0.05 * (1 - bx * bx))
        brow = np.exp(-(by**2) / (2 * face.brow_thick**2)) * _sig((1.0 - np.abs(bx)) / 0.1)
        skin_img *= 1.0 - face.brow_dark * feat * brow
    # eyes: sclera, iris, upper-lid line
    for sx in (-1.0, 1.0):
        ex = (X - sx * face.eye_x) / face.eye_w
        ey = (Y - face.eye_y) / face.eye_h
        eye = _sig((1.0 - ex * ex - ey * ey) / 0.12)
        sclera = 0.85 * skin + 10.0
        iris_level = face.iris + (90.0 if nir else 0.0)
        rr = ((X - sx * face.eye_x) ** 2 + (Y - face.eye_y) ** 2) / (0.9 * face.eye_h) ** 2
        iris = _sig((1.0 - rr) / 0.15)
        eye_img = sclera + iris * (iris_level - sclera)
        skin_img = skin_img + eye * (eye_img - skin_img)
        lid = np.exp(-((ey + np.sqrt(np.clip(1 - ex * ex, 0, 1))) ** 2) / (2 * 0.25**2)) * _sig(
            (1.0 - np.abs(ex)) / 0.1
        )
        skin_img *= 1.0 - 0.45 * feat * lid
    # hair over the top of the head
    hairline = face.hairline + 0.25 * X * X
    hair = _sig((hairline - Y) / (0.03 + soft)) * _sig((1.12 - r) / soft)
    hair_img = face.hair * (1.0 + 0.5 * tex * texture) + (30.0 if nir else 0.0)
    face_mask = _sig((1.0 - r) / soft)
    img = img + face_mask * (skin_img - img)
    img = img + hair * (hair_img - img)
    return img.astype(np.float32)


def _field(
    components: Sequence[tuple], X: np.ndarray, Y: np.ndarray, sides: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    dx = np.zeros_like(X)
    dy = np.zeros_like(Y)
    for cx, cy, s, ux, uy in components:
        for sx in sides if cx != 0.0 else (1.0,):
            g = np.exp(-((X - sx * cx) ** 2 + (Y - cy) ** 2) / (2 * s * s))
            dx += g * sx * ux
            dy += g * uy
    return dx, dy


def _shade(components: Sequence[tuple], X, Y, sides) -> np.ndarray:
    out = np.zeros_like(X)
    for cx, cy, s, amount in components:
        for sx in sides if cx != 0.0 else (1.0,):
            out += amount * np.exp(-((X - sx * cx) ** 2 + (Y - cy) ** 2) / (2 * s * s))
    return out


def render_clip(
    face: FaceParams,
    imaging: Imaging,
    *,
    aus: Sequence[tuple[int, float, str]],
    times: np.ndarray,
    onset: float,
    apex: float,
    offset: float,
    amplitude: float,
    blink: tuple[float, float] | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Renders one clip as ``[T, H, W]`` uint8.

    Args:
      face: the subject.
      imaging: the database's camera and lighting.
      aus: ``(action unit, relative intensity, side)`` with side ``"B"``, ``"L"`` or ``"R"``.
      times: frame times in seconds ``[T]``.
      onset, apex, offset: expression timing in seconds.
      amplitude: displacement at full intensity, in face units.
      blink: ``(start, duration)`` in seconds, or ``None``.
      rng: random draws of this clip (placement, head motion, noise).
    """
    import cv2

    w, h = imaging.size
    a = imaging.face_width * w / 2.0
    jit = imaging.jitter
    centre = (
        float(w / 2.0 + rng.normal(0, jit) * a),
        float(imaging.face_y * h + rng.normal(0, jit) * a),
    )
    neutral = render_neutral(face, imaging, centre, a)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    X = (xs - centre[0]) / a
    Y = (ys - centre[1]) / a

    # per-AU displacement fields (pixels at full intensity) and creases
    bases, shades = [], []
    for au, rel, side in aus:
        spec = ACTION_UNITS[au]
        sides = {"B": (-1.0, 1.0), "L": (-1.0,), "R": (1.0,)}[side]
        dx, dy = _field(spec["move"], X, Y, sides)
        gain = amplitude * a * rel * face.expressivity
        bases.append((dx * gain, dy * gain))
        shades.append(_shade(spec["shade"], X, Y, sides) * rel * face.expressivity)
    n = len(times)
    fps_t = np.asarray(times, np.float64)
    tt = fps_t - fps_t[0]
    w_t = intensity_profile_time(tt, onset, apex, offset)
    if blink is not None:
        bdx, bdy = _field(_BLINK, X, Y, (-1.0, 1.0))
        bw = np.clip(1.0 - np.abs((tt - blink[0] - blink[1] / 2) / (blink[1] / 2)), 0.0, 1.0)
        bw = np.sin(0.5 * np.pi * bw) ** 2
        blink_gain = 1.6 * face.eye_h * a
    # rigid head motion: slow drift plus a small sway, in pixels and radians
    drift = rng.normal(0, imaging.head_motion, 2) * a
    sway = rng.normal(0, imaging.head_motion / 2, 2) * a
    sway_f = rng.uniform(0.5, 2.0)
    rot = rng.normal(0, imaging.head_motion * 0.5)
    dur = max(tt[-1], 1e-6)

    tone_in = np.float32(1.0 / 255.0)
    frames = np.empty((n, h, w), np.uint8)
    flick_phase = rng.uniform(0, 2 * math.pi)
    for i in range(n):
        dx = np.zeros((h, w), np.float32)
        dy = np.zeros((h, w), np.float32)
        dark = np.zeros((h, w), np.float32)
        wi = w_t[i]
        if wi > 0:
            for (bx, by), sh in zip(bases, shades, strict=True):
                dx += wi * bx
                dy += wi * by
                dark += wi * sh
        if blink is not None and bw[i] > 0:
            dx += bw[i] * blink_gain * bdx
            dy += bw[i] * blink_gain * bdy
        frac = tt[i] / dur
        tx = drift[0] * frac + sway[0] * math.sin(2 * math.pi * sway_f * tt[i])
        ty = drift[1] * frac + sway[1] * math.sin(2 * math.pi * sway_f * tt[i] + 1.0)
        th = rot * frac
        # inverse map: output pixel p samples the rest image at p - d(p)
        rx = xs - centre[0]
        ry = ys - centre[1]
        map_x = centre[0] + math.cos(th) * rx + math.sin(th) * ry - tx - dx
        map_y = centre[1] - math.sin(th) * rx + math.cos(th) * ry - ty - dy
        img = cv2.remap(
            neutral,
            map_x.astype(np.float32),
            map_y.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if wi > 0:
            img = img * (1.0 - np.clip(dark, 0.0, 0.5))
        if imaging.blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), imaging.blur)
        g = imaging.gain
        if imaging.flicker > 0:
            phase = 2 * math.pi * imaging.flicker_hz * tt[i] + flick_phase
            g = g * (1.0 + imaging.flicker * math.sin(phase))
        v = np.clip(img * tone_in, 0.0, 1.0)
        if imaging.gamma != 1.0:
            v = v**imaging.gamma
        v = v * (255.0 * g) + imaging.offset
        if imaging.vignette > 0:
            v = v * _vignette(h, w, imaging.vignette)
        v = v + rng.standard_normal((h, w), dtype=np.float32) * imaging.noise
        frames[i] = np.clip(np.rint(v), 0, 255).astype(np.uint8)
    return frames


def intensity_profile_time(t: np.ndarray, onset: float, apex: float, offset: float) -> np.ndarray:
    r"""Expression intensity at times ``t`` (seconds): raised-cosine rise, then fall.

    .. math::
       w(t) = \tfrac12\bigl(1 - \cos\pi\tfrac{t - o}{a - o}\bigr) \;(o \le t \le a),\quad
       w(t) = \tfrac12\bigl(1 + \cos\pi\tfrac{t - a}{f - a}\bigr) \;(a < t \le f),

    and 0 outside ``[o, f]`` (onset ``o``, apex ``a``, offset ``f``).
    """
    t = np.asarray(t, np.float64)
    w = np.zeros(t.shape)
    rise = (t >= onset) & (t <= apex)
    w[rise] = 0.5 * (1 - np.cos(np.pi * (t[rise] - onset) / max(apex - onset, 1e-9)))
    fall = (t > apex) & (t <= offset)
    w[fall] = 0.5 * (1 + np.cos(np.pi * (t[fall] - apex) / max(offset - apex, 1e-9)))
    return w


_VIGNETTES: dict = {}


def _vignette(h: int, w: int, amount: float) -> np.ndarray:
    key = (h, w, amount)
    if key not in _VIGNETTES:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xs - w / 2) / (w / 2)) ** 2 + ((ys - h / 2) / (h / 2)) ** 2
        _VIGNETTES[key] = (1.0 - amount * r2 / 2).astype(np.float32)
    return _VIGNETTES[key]
