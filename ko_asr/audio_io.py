"""The one way audio files come into ko_asr: `load_audio` decodes a file to a 16 kHz mono waveform and
`validate_waveform` says whether that waveform is worth transcribing. The `ko-asr transcribe` command, the demo Space
(`ko_asr.serving`) and the dataset transforms (`ko_asr.data.audio.decode_audio`) all go through them, so a file that
one of them reads, the others read to the same samples, and a file one refuses, the others refuse in the same words.

Decoding: raw KsponSpeech `.pcm` is a numpy read; anything libsndfile reads (WAV, FLAC, OGG, MP3) goes through
soundfile; other containers (M4A, WebM, ...) through an FFmpeg subprocess. Every path ends in the same
`to_mono_resampled` (channel mean, torchaudio resampler), so a recording gives the same samples whatever its
container. Every problem is an `AudioError` whose message names the file.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess

import numpy as np
import soundfile
import torch
import torchaudio

SAMPLING_RATE = 16000
PCM_EXTENSION = ".pcm"
#: Shortest waveform worth transcribing, in seconds. Nothing in the models needs more than one sample (the
#: DeepSpeech2 feature extractor pads any non-empty input to `max(1, samples // 160)` frames and the padded
#: convolutions keep at least one output frame), so this is a content limit, not a crash guard: 0.1 s is 10 feature
#: frames (5 DeepSpeech2 output frames) and shorter than one Korean syllable (conversational speech runs about 5-7
#: syllables a second), so anything shorter can hold no word and would only give a transcript of noise.
MIN_SECONDS = 0.1
#: A peak below -60 dBFS is silence for speech recognition purposes (room tone of a muted microphone).
SILENCE_PEAK = 10 ** (-60 / 20)
#: Longest an FFmpeg probe or decode may run: a stuck or hostile file must not hang the caller.
FFMPEG_TIMEOUT_S = 120


class AudioError(ValueError):
    """An audio file that cannot be read or a waveform not worth transcribing. The message names the file (or the
    name the caller gave it) and the problem, on one line, in words a user can act on."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # one line: FFmpeg/libsndfile details may hold newlines


def pcm_to_float(samples: np.ndarray) -> np.ndarray:
    """Integer PCM as float32 in [-1, 1): signed samples divided by 2**(bits - 1) (32768 for 16-bit), unsigned ones
    (8-bit WAV) centred on their midpoint first, so that their silence is 0. Float input is only cast to float32.

    Args:
        samples (`np.ndarray` of any shape): integer or float samples.

    Returns:
        `np.ndarray` of float32, same shape.
    """
    samples = np.asarray(samples)
    if np.issubdtype(samples.dtype, np.integer):
        info = np.iinfo(samples.dtype)
        full_scale = (float(info.max) - float(info.min) + 1) / 2  # 2**(bits - 1) for signed and unsigned alike
        offset = float(info.min) + full_scale  # 0 for signed, the midpoint for unsigned
        samples = samples.astype(np.float32)
        return (samples - offset) / full_scale if offset else samples / full_scale
    return samples.astype(np.float32, copy=False)


def read_pcm(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a headerless KsponSpeech PCM file (16 kHz, signed 16-bit little-endian, mono) as float32 in [-1, 1).

    An odd byte count (a few real files have one) drops the last byte.
    """
    return pcm_to_float(np.fromfile(path, dtype="<i2"))  # fromfile ignores a trailing odd byte


@functools.lru_cache(maxsize=8)
def _resampler(original: int, target: int) -> torchaudio.transforms.Resample:
    # Building the windowed-sinc kernel costs more than applying it; keep one per rate pair.
    return torchaudio.transforms.Resample(original, target)


def to_mono_resampled(waveform: np.ndarray, rate: int, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """The one downmix and resampler of ko_asr: average the channels, then resample with torchaudio when needed.

    Args:
        waveform (`np.ndarray`): `(frames,)` or `(frames, channels)` (soundfile's layout), float.
        rate (`int`): its sampling rate in Hz.
        sampling_rate (`int`, *optional*, defaults to 16000): the rate wanted.

    Returns:
        `np.ndarray` of float32, shape `(frames * sampling_rate / rate,)` (rounded up).
    """
    if waveform.ndim == 2:
        waveform = waveform.mean(axis=1)
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    if rate != sampling_rate:
        with torch.no_grad():
            waveform = _resampler(rate, sampling_rate)(torch.from_numpy(waveform)).numpy()
    return waveform


def duration_text(seconds: float, round_up: bool = False) -> str:
    """`m:ss.s` (or `h:mm:ss.s`). A length over a limit is rounded up, so the two never read the same."""
    tenths = math.ceil(seconds * 10 - 1e-9) if round_up else round(seconds * 10)
    minutes, tenths = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    clock = f"{tenths // 10:02d}.{tenths % 10}"
    return f"{hours}:{minutes:02d}:{clock}" if hours else f"{minutes}:{clock}"


def check_max_seconds(seconds: float, max_seconds: float | None, name: str) -> None:
    """Raise `AudioError` ("NAME is m:ss.s long; the limit is m:ss.s") when `seconds` exceeds `max_seconds`."""
    if max_seconds is not None and seconds > max_seconds:
        length, limit = duration_text(seconds, round_up=True), duration_text(max_seconds)
        raise AudioError(f"{name} is {length} long; the limit is {limit}")


def _run(command: list[str], name: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, check=False, timeout=FFMPEG_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{name}: decoding took longer than {FFMPEG_TIMEOUT_S} s; is it really audio?") from None


def _not_audio(result: subprocess.CompletedProcess, source: str, name: str) -> AudioError:
    reason = result.stderr.decode(errors="replace").strip().splitlines()
    detail = reason[-1].replace(f"{source}: ", "") if reason else "no detail"
    return AudioError(f"{name} is not an audio file ({detail})")


def _read_with_ffmpeg(path: str, name: str, sampling_rate: int, max_seconds: float | None) -> np.ndarray:
    # Browsers record WebM/Opus and users upload M4A; libsndfile reads neither, FFmpeg reads both. FFmpeg only
    # decodes: it keeps the native channels and rate (probed first), and the downmix and resampling are
    # `to_mono_resampled`'s, as for every other file. FFmpeg's own `-ac 1` sums stereo at -3 dB each, which is
    # 1.41x the channel mean: the same recording would come out louder as M4A than as WAV.
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise AudioError(f"{name}: not a format soundfile can read, and ffmpeg is not installed")
    source = f"file:{path}"  # a local file even when its name reads like a protocol (`http:...`, `concat:...`)
    probe = _run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=channels,sample_rate",
         "-of", "json", source],
        name,
    )
    if probe.returncode != 0:
        raise _not_audio(probe, source, name)
    streams = json.loads(probe.stdout or b"{}").get("streams") or [{}]
    channels, rate = int(streams[0].get("channels") or 0), int(streams[0].get("sample_rate") or 0)
    if channels < 1 or rate < 1:
        raise AudioError(f"{name} is not an audio file (no audio stream)")
    # `-t` stops decoding just past the limit: a many-hour upload never fills memory. `-ac`/`-ar` pin the output
    # to the probed layout, so the bytes are read back with the shape they have even if the stream changes midway.
    limit = [] if max_seconds is None else ["-t", f"{max_seconds + 1:.3f}"]
    result = _run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", source, "-map", "0:a:0", *limit, "-f", "f32le",
         "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(rate), "-"],
        name,
    )
    if result.returncode != 0:
        raise _not_audio(result, source, name)
    frames = len(result.stdout) // (4 * channels)
    waveform = np.frombuffer(result.stdout, dtype="<f4", count=frames * channels).reshape(frames, channels)
    if max_seconds is not None and frames > max_seconds * rate:
        raise AudioError(f"{name} is longer than the limit of {duration_text(max_seconds)}")
    return to_mono_resampled(waveform, rate, sampling_rate)


def load_audio(
    path: str | os.PathLike[str],
    sampling_rate: int = SAMPLING_RATE,
    max_seconds: float | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Decode an audio file to a mono float32 waveform at `sampling_rate`: the front door for every audio file.

    `.pcm` files are headerless KsponSpeech PCM (16 kHz, signed 16-bit little-endian, mono); anything else is read
    by soundfile (WAV, FLAC, OGG, MP3, ...) or, when libsndfile cannot, by FFmpeg (M4A, WebM, ...). Channels are
    averaged and the rate converted by `to_mono_resampled` on every path. The content is not judged here (an empty
    WAV decodes to 0 samples): see `validate_waveform`.

    Args:
        path (`str` or `os.PathLike`): the file.
        sampling_rate (`int`, *optional*, defaults to 16000): output rate in Hz.
        max_seconds (`float`, *optional*): refuse a longer file, from its header or size where it has one (FFmpeg
            stops decoding just past the limit otherwise), before the samples are held in memory.
        name (`str`, *optional*): how messages call the file; defaults to `path` as given.

    Returns:
        `np.ndarray` of float32, shape `(samples,)`, in [-1, 1] for integer sources.

    Raises:
        AudioError: the file is missing, a directory, unreadable, 0 bytes long, not audio (or in a container nothing
            installed reads), longer than `max_seconds`, or took FFmpeg longer than `FFMPEG_TIMEOUT_S`.
    """
    path = os.fspath(path)
    name = path if name is None else name
    try:
        with open(path, "rb") as handle:
            empty = not handle.read(1)
    except FileNotFoundError:
        raise AudioError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{name} is a directory, not an audio file") from None
    except OSError as error:
        raise AudioError(f"{name} cannot be read ({error.strerror or error})") from None
    if empty:
        raise AudioError(f"{name} is empty (0 bytes)")
    if path.lower().endswith(PCM_EXTENSION):
        check_max_seconds((os.path.getsize(path) // 2) / SAMPLING_RATE, max_seconds, name)
        return to_mono_resampled(read_pcm(path), SAMPLING_RATE, sampling_rate)
    try:
        info = soundfile.info(path)
    except (soundfile.SoundFileError, RuntimeError):
        return _read_with_ffmpeg(path, name, sampling_rate, max_seconds)
    check_max_seconds(info.frames / info.samplerate, max_seconds, name)
    try:
        waveform, rate = soundfile.read(path, dtype="float32", always_2d=False)
    except (soundfile.SoundFileError, RuntimeError) as error:  # a valid header over broken data
        raise AudioError(f"{name} cannot be decoded ({error})") from None
    return to_mono_resampled(waveform, rate, sampling_rate)


def validate_waveform(
    waveform: np.ndarray,
    name: str = "the audio",
    max_seconds: float | None = None,
    min_seconds: float = MIN_SECONDS,
    sampling_rate: int = SAMPLING_RATE,
) -> None:
    """Refuse a waveform whose transcription would be meaningless or unbounded.

    Args:
        waveform (`np.ndarray`): `(samples,)` mono, as `load_audio` returns it.
        name (`str`, *optional*): how the message calls it (a file name, "the recording").
        max_seconds (`float`, *optional*): longest accepted length; no limit by default.
        min_seconds (`float`, *optional*, defaults to `MIN_SECONDS` = 0.1): shortest accepted length (see
            `MIN_SECONDS` for why).
        sampling_rate (`int`, *optional*, defaults to 16000): rate of `waveform`, for the lengths.

    Raises:
        AudioError: in this order, when it is empty (0 samples), holds NaN or infinite samples, is longer than
            `max_seconds`, is shorter than `min_seconds`, or is silent (peak around its mean below -60 dBFS).
    """
    if waveform.size == 0:
        raise AudioError(f"{name} is empty (0 samples)")
    if not np.all(np.isfinite(waveform)):
        raise AudioError(f"{name} contains NaN or infinite samples")
    seconds = waveform.size / sampling_rate
    check_max_seconds(seconds, max_seconds, name)
    if seconds < min_seconds:
        raise AudioError(
            f"{name} is too short ({1000 * seconds:.3g} ms; at least {1000 * min_seconds:.3g} ms is needed to hold speech)"
        )
    # Around the mean: a constant DC offset is not sound.
    peak = float(np.max(np.abs(waveform - waveform.mean())))
    if peak < SILENCE_PEAK:
        level = "no signal at all" if peak == 0 else f"peak {20 * np.log10(peak):.0f} dBFS"
        raise AudioError(f"{name} is silent ({level}): nothing to transcribe")
