"""Offline speech synthesis with eSpeak NG, driven through ctypes.

The shared library and its voice data come from the ``espeakng-loader`` wheel:
no system package and no download. The library keeps state between calls (the
phase of the glottal source, filter memories), so the same text synthesised
twice in one process gives slightly different samples. To make every utterance
depend on its own arguments only, :func:`synthesize` initialises the library
once per process and synthesises each utterance in a child forked from that
pristine state (a fork costs a few milliseconds on Linux). Where ``os.fork``
does not exist the call runs in-process and is only reproducible per process.
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct

import numpy as np

__all__ = ["SAMPLE_RATE", "EspeakError", "espeak_version", "synthesize"]

#: Sample rate of eSpeak NG's output in Hz (fixed by the library).
SAMPLE_RATE = 22050

# espeak_AUDIO_OUTPUT
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_PARAMETER
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
# espeak_POSITION_TYPE and synth flags
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_SSML = 0x10

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    """eSpeak NG could not be loaded or refused an utterance."""


class _Engine:
    """The initialised library of one process and the buffer its callback fills."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as err:  # pragma: no cover - the ser extra is missing
            raise EspeakError(
                "speech synthesis needs the 'espeakng-loader' wheel: pip install 'dalib-jax[ser]'"
            ) from err
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate != SAMPLE_RATE:
            raise EspeakError(f"espeak_Initialize returned {rate}, expected {SAMPLE_RATE} Hz")
        self.lib = lib
        self.chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept alive as long as the engine
        lib.espeak_SetSynthCallback(self._callback)
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.version = lib.espeak_Info(None).decode()

    def _collect(self, wav, num_samples, _events):
        if num_samples > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def run(self, text: str, voice: str, params: tuple[int, ...], ssml: bool) -> np.ndarray:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"eSpeak NG has no voice {voice!r}")
        for name, value in zip((_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP), params, strict=True):
            lib.espeak_SetParameter(name, value, 0)
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(0)
        self.chunks.clear()
        raw = text.encode("utf-8") + b"\0"
        flags = _CHARS_UTF8 | (_SSML if ssml else 0)
        err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, flags, None, None)
        if err != 0 or lib.espeak_Synchronize() != 0:
            raise EspeakError(f"espeak_Synth failed (code {err}) for {text!r}")
        out = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        self.chunks.clear()
        return out.astype(np.int16, copy=False)


@functools.cache
def _engine(pid: int) -> _Engine:
    del pid  # the cache key: a forked child reuses its parent's engine on purpose
    return _Engine()


def espeak_version() -> str:
    """The version string of the bundled eSpeak NG library (e.g. ``"1.52.0"``)."""
    return _engine(os.getpid()).version


def _run_forked(engine: _Engine, *args) -> np.ndarray:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: synthesise from the parent's untouched library state
        status = 1
        try:
            os.close(read_fd)
            try:
                payload = b"K" + engine.run(*args).astype("<i2").tobytes()
                status = 0
            except Exception as err:
                payload = b"E" + str(err).encode("utf-8", "replace")
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(struct.pack("<Q", len(payload)) + payload)
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    if len(data) < 9:
        raise EspeakError(f"the eSpeak NG child process died while synthesising {args[0]!r}")
    payload = data[8 : 8 + struct.unpack("<Q", data[:8])[0]]
    if payload[:1] == b"E":
        raise EspeakError(payload[1:].decode())
    return np.frombuffer(payload[1:], dtype="<i2").astype(np.int16)


def synthesize(
    text: str,
    *,
    voice: str,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    volume: int = 100,
    word_gap: int = 0,
    ssml: bool = False,
    isolate: bool = True,
) -> np.ndarray:
    """Synthesise one utterance with eSpeak NG.

    Args:
      text: the utterance (UTF-8; SSML markup when ``ssml=True``).
      voice: an eSpeak NG voice name, optionally with a variant:
        ``"de"``, ``"en+f2"``, ``"cmn+m3"``.
      rate: speaking rate in words per minute (eSpeak NG accepts 80–450).
      pitch: base pitch, 0–100 (50 is the voice's default).
      pitch_range: pitch range, 0–100 (0 is monotone, 50 the default).
      volume: amplitude, 0–200 (100 is the default).
      word_gap: extra pause between words in units of 10 ms.
      ssml: interpret ``text`` as SSML.
      isolate: synthesise in a forked child so that the result depends on the
        arguments only (bit-identical across calls and processes).

    Returns:
      ``[num_samples] int16`` samples at :data:`SAMPLE_RATE` Hz.

    Raises:
      EspeakError: the library is missing, the voice is unknown or synthesis failed.

    Examples:
      >>> from dalib.synth import synthesize
      >>> wav = synthesize("Guten Tag.", voice="de+m1", rate=160)
      >>> wav.dtype.name, 0.3 < wav.size / 22050 < 3.0
      ('int16', True)
    """
    params = tuple(
        round(float(v))
        for v in (
            np.clip(rate, 80, 450),
            np.clip(volume, 0, 200),
            np.clip(pitch, 0, 100),
            np.clip(pitch_range, 0, 100),
            max(word_gap, 0),
        )
    )
    engine = _engine(os.getpid())
    if isolate and hasattr(os, "fork"):
        return _run_forked(engine, text, voice, params, ssml)
    return engine.run(text, voice, params, ssml)
