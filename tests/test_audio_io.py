"""ko_asr.audio_io: the one front door for audio files (CLI, Space, datasets), its errors, its content checks and the
one downmix every container goes through."""

import subprocess

import numpy as np
import pytest
import soundfile
from helpers import make_waveform

from ko_asr import audio_io
from ko_asr.audio_io import (
    MIN_SECONDS,
    AudioError,
    load_audio,
    pcm_to_float,
    read_pcm,
    to_mono_resampled,
    validate_waveform,
)
from ko_asr.data.audio import decode_audio, decode_audio_batch


def encode(source, target, *options: str):
    """`source` re-encoded by FFmpeg into `target` (the container follows the extension)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), *options, str(target)], check=True)
    return target


# ---------------------------------------------------------------- int16 scaling


def test_pcm_to_float_scales_signed_by_full_scale_and_centres_unsigned():
    int16 = np.array([-32768, -16384, 0, 1, 32767], dtype=np.int16)
    np.testing.assert_array_equal(pcm_to_float(int16), np.array([-1.0, -0.5, 0.0, 1 / 32768, 32767 / 32768], dtype=np.float32))
    assert pcm_to_float(int16).dtype == np.float32
    uint8 = np.array([0, 64, 128, 255], dtype=np.uint8)  # 8-bit WAV: silence is 128
    np.testing.assert_array_equal(pcm_to_float(uint8), np.array([-1.0, -0.5, 0.0, 127 / 128], dtype=np.float32))
    int32 = np.array([-(2**31), 2**30], dtype=np.int32)
    np.testing.assert_array_equal(pcm_to_float(int32), np.array([-1.0, 0.5], dtype=np.float32))
    floats = np.array([0.25, -2.0], dtype=np.float64)  # float input is not rescaled (nor clipped)
    np.testing.assert_array_equal(pcm_to_float(floats), floats.astype(np.float32))


def test_read_pcm_is_little_endian_int16_and_drops_an_odd_byte(tmp_path):
    path = tmp_path / "utt.pcm"
    path.write_bytes(np.array([16384, -32768, 32767], dtype="<i2").tobytes() + b"\x7f")
    np.testing.assert_array_equal(read_pcm(path), np.array([0.5, -1.0, 32767 / 32768], dtype=np.float32))


# ---------------------------------------------------------------- decoding and its errors


def test_load_audio_reads_pcm_wav_and_ffmpeg_containers_to_16k_mono(tmp_path, rng):
    waveform = make_waveform(rng, 1.0)
    pcm = tmp_path / "utt.pcm"
    (np.round(waveform * 32768)).astype("<i2").tofile(pcm)
    from_pcm = load_audio(pcm)
    assert from_pcm.dtype == np.float32 and from_pcm.shape == (16000,)
    np.testing.assert_allclose(from_pcm, waveform, atol=1 / 32768)
    wav = tmp_path / "utt.wav"
    soundfile.write(wav, waveform, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(wav), waveform)
    np.testing.assert_array_equal(load_audio(wav, sampling_rate=8000), to_mono_resampled(waveform, 16000, 8000))
    # Matroska with float PCM: libsndfile cannot open it, FFmpeg decodes it losslessly
    mka = encode(wav, tmp_path / "utt.mka", "-c:a", "pcm_f32le")
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.info(mka)
    np.testing.assert_array_equal(load_audio(mka), waveform)


def test_ffmpeg_reads_a_relative_name_that_looks_like_a_protocol(tmp_path, rng, monkeypatch):
    soundfile.write(tmp_path / "utt.wav", make_waveform(rng, 0.5), 16000, subtype="FLOAT")
    encode(tmp_path / "utt.wav", tmp_path / "http:utt.mka", "-c:a", "pcm_f32le")
    monkeypatch.chdir(tmp_path)  # FFmpeg would take `http:` as its network protocol
    np.testing.assert_array_equal(load_audio("http:utt.mka"), load_audio("utt.wav"))


@pytest.fixture
def bad_files(tmp_path):
    """name -> what its message starts with, for every kind of file the front door refuses."""
    (tmp_path / "empty.pcm").write_bytes(b"")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("이것은 오디오가 아닙니다\n", encoding="utf-8")
    (tmp_path / "folder.wav").mkdir()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(tmp_path / "picture.png")],
        check=True,
    )
    soundfile.write(tmp_path / "whole.wav", np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes((tmp_path / "whole.wav").read_bytes()[:30])  # cut inside the header
    return tmp_path, {
        "empty.pcm": "empty.pcm is empty (0 bytes)",
        "empty.wav": "empty.wav is empty (0 bytes)",
        "text.wav": "text.wav is not an audio file (Invalid data found when processing input)",
        "missing.wav": "missing.wav: no such file",
        "folder.wav": "folder.wav is a directory, not an audio file",
        "picture.png": "picture.png is not an audio file (no audio stream)",
        "cut.wav": "cut.wav is not an audio file (",
    }


def test_every_unreadable_file_raises_one_audio_error_naming_it(bad_files):
    folder, messages = bad_files
    for name, message in messages.items():
        with pytest.raises(AudioError) as error:
            load_audio(folder / name)
        assert str(error.value).startswith(f"{folder / name}{message[len(name):]}"), name
        assert isinstance(error.value, ValueError) and "\n" not in str(error.value)
        # the caller chooses how the file is named (the Space shows base names)
        with pytest.raises(AudioError) as error:
            load_audio(folder / name, name=name)
        assert str(error.value).startswith(message)


def test_a_wav_cut_after_its_header_decodes_to_what_it_holds(tmp_path):
    # libsndfile trusts the file size over the header's length: a cut file is short, not an error
    soundfile.write(tmp_path / "whole.wav", np.full(16000, 0.5, dtype=np.float32), 16000, subtype="PCM_16")
    data = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "header_only.wav").write_bytes(data[:44])
    (tmp_path / "half.wav").write_bytes(data[: 44 + 16000])
    assert load_audio(tmp_path / "header_only.wav").size == 0  # then validate_waveform calls it empty
    np.testing.assert_array_equal(load_audio(tmp_path / "half.wav"), np.full(8000, 0.5, dtype=np.float32))


def test_without_ffmpeg_a_container_libsndfile_cannot_read_is_refused(tmp_path, rng, monkeypatch):
    soundfile.write(tmp_path / "clip.wav", make_waveform(rng, 0.5), 16000)
    m4a = encode(tmp_path / "clip.wav", tmp_path / "clip.m4a", "-c:a", "aac")
    monkeypatch.setattr("ko_asr.audio_io.shutil.which", lambda name: None if name == "ffprobe" else "/usr/bin/" + name)
    with pytest.raises(AudioError, match="clip.m4a: not a format soundfile can read, and ffmpeg is not installed"):
        load_audio(m4a)


def test_a_stuck_ffmpeg_is_stopped(tmp_path, rng, monkeypatch):
    soundfile.write(tmp_path / "clip.wav", make_waveform(rng, 0.5), 16000)
    m4a = encode(tmp_path / "clip.wav", tmp_path / "clip.m4a", "-c:a", "aac")
    monkeypatch.setattr(audio_io, "FFMPEG_TIMEOUT_S", 1e-4)
    with pytest.raises(AudioError, match=r"clip.m4a: decoding took longer than 0.0001 s; is it really audio\?"):
        load_audio(m4a)


def test_max_seconds_refuses_from_size_or_header_before_decoding(tmp_path, rng, monkeypatch):
    waveform = make_waveform(rng, 2.0)
    pcm = tmp_path / "long.pcm"
    (waveform * 32767).astype("<i2").tofile(pcm)
    soundfile.write(tmp_path / "long.wav", waveform, 16000)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the samples were decoded")

    monkeypatch.setattr(audio_io, "read_pcm", no_decoding)
    monkeypatch.setattr(audio_io.soundfile, "read", no_decoding)
    for path in (pcm, tmp_path / "long.wav"):
        with pytest.raises(AudioError, match=rf"{path.name} is 0:02\.0 long; the limit is 0:01\.5"):
            load_audio(path, max_seconds=1.5)
    monkeypatch.undo()
    assert load_audio(pcm, max_seconds=2.0).size == 32000  # the limit itself is accepted


# ---------------------------------------------------------------- content checks


def test_validate_waveform_refuses_each_kind_of_useless_audio():
    rng = np.random.default_rng(0)
    speech = make_waveform(rng, 1.0)
    validate_waveform(speech)
    cases = {
        "is empty (0 samples)": np.zeros(0, dtype=np.float32),
        "contains NaN or infinite samples": np.where(np.arange(16000) == 5, np.nan, speech).astype(np.float32),
        "is 0:00.8 long; the limit is 0:00.5": speech[:12001],
        "is too short (62.5 ms; at least 100 ms is needed to hold speech)": speech[:1000],
        "is silent (no signal at all): nothing to transcribe": np.zeros(16000, dtype=np.float32),
        "is silent (peak -66 dBFS): nothing to transcribe": (speech * 0.0005 / np.abs(speech).max()).astype(np.float32),
    }
    for message, waveform in cases.items():
        with pytest.raises(AudioError) as error:
            validate_waveform(waveform, name="x.wav", max_seconds=0.5 if "limit" in message else None)
        assert str(error.value) == f"x.wav {message}"
    # a constant DC offset is not sound
    with pytest.raises(AudioError, match="is silent"):
        validate_waveform(np.full(16000, 0.3, dtype=np.float32))


def test_too_short_is_below_min_seconds_exactly():
    assert MIN_SECONDS == 0.1
    noise = np.random.default_rng(0).standard_normal(1600).astype(np.float32) * 0.1
    validate_waveform(noise)  # 1600 samples = 0.1 s: accepted
    with pytest.raises(AudioError, match=r"the audio is too short \(99.9 ms"):
        validate_waveform(noise[:-1])
    validate_waveform(noise[:800], min_seconds=0.05)  # callers may lower it


# ---------------------------------------------------------------- one downmix for every container


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory):
    """2 s of stereo at 44.1 kHz whose channels differ (another signal, half the level, shifted), so a single
    channel, a sum or a -3 dB downmix all differ from the channel mean."""
    rate = 44100
    left = make_waveform(np.random.default_rng(0), 2.0, rate)
    right = 0.5 * np.roll(make_waveform(np.random.default_rng(1), 2.0, rate), 3000)
    path = tmp_path_factory.mktemp("stereo") / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), rate, subtype="FLOAT")
    return path, np.stack([left, right], axis=1), rate


def _align(decoded: np.ndarray, reference: np.ndarray, search: int = 2048) -> tuple[int, np.ndarray, np.ndarray]:
    """The lag (samples) that best aligns `decoded` on `reference`, and both cut to their overlap."""
    n = min(decoded.size, reference.size) - 2 * search
    scores = [np.dot(decoded[search + lag : search + lag + n], reference[search : search + n]) for lag in range(-search, search + 1)]
    lag = int(np.argmax(scores)) - search
    decoded = decoded[max(lag, 0) :]
    reference = reference[max(-lag, 0) :]
    size = min(decoded.size, reference.size)
    return lag, decoded[:size], reference[:size]


def test_wav_is_the_channel_mean_resampled(stereo_wav):
    path, samples, rate = stereo_wav
    expected = to_mono_resampled(samples.mean(axis=1), rate)
    np.testing.assert_allclose(load_audio(path), expected, atol=1e-6)


# Relative error energy allowed per codec, error RMS / signal RMS. Lossless: float rounding only. Lossy codecs at
# high bitrate keep the waveform to about -27 dB (measured: Vorbis q8 -34 dB, MP3 320k -38 dB, AAC 256k -28 dB,
# Opus 256k -27 dB; the 1 % white noise in the test signal is what perceptual coders spend least on), so 0.1
# (-20 dB) passes them all with margin while any other downmix fails by far: -3 dB each (FFmpeg's -ac 1) is 1.41x
# the mean, a relative error of 0.41; the left channel alone is 0.94 off.
CODECS = {
    "flac": ((), 1e-5),
    "mka": (("-c:a", "pcm_f32le"), 1e-6),  # lossless through FFmpeg: the FFmpeg path adds nothing of its own
    "ogg": (("-c:a", "libvorbis", "-q:a", "8"), 0.1),
    "mp3": (("-c:a", "libmp3lame", "-b:a", "320k"), 0.1),
    "m4a": (("-c:a", "aac", "-b:a", "256k"), 0.1),
    "webm": (("-c:a", "libopus", "-b:a", "256k"), 0.1),
}


@pytest.mark.parametrize("extension", sorted(CODECS))
def test_every_container_gives_the_same_samples_at_the_level_of_the_mean(stereo_wav, extension, tmp_path):
    path, samples, rate = stereo_wav
    options, tolerance = CODECS[extension]
    encoded = encode(path, tmp_path / f"stereo.{extension}", *options)
    probe = ["ffprobe", "-v", "error", "-show_entries", "stream=channels", "-of", "csv=p=0", str(encoded)]
    assert subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip() == "2"  # still stereo
    reference = load_audio(path)
    decoded = load_audio(encoded)
    # AAC adds up to a frame of padding at the end; the start is trimmed by FFmpeg (priming delay, encoder delay)
    assert abs(decoded.size - reference.size) <= 0.05 * 16000
    lag, decoded, reference = _align(decoded, reference)
    assert lag == 0, f"{extension}: decoded audio is shifted by {lag} samples"
    relative_error = np.sqrt(np.mean((decoded - reference) ** 2) / np.mean(reference**2))
    assert relative_error < tolerance, f"{extension}: error at {20 * np.log10(relative_error):.0f} dB"
    level = np.sqrt(np.mean(decoded**2) / np.mean(reference**2))
    assert abs(level - 1) < 0.03, f"{extension}: level {level:.3f}x the channel mean"
    # the test can tell the downmixes apart: the -3 dB sum and one channel are far off
    for other in (samples.sum(axis=1) / np.sqrt(2), samples[:, 0]):
        wrong = to_mono_resampled(other, rate)[: reference.size]
        assert np.sqrt(np.mean((wrong - reference) ** 2) / np.mean(reference**2)) > 4 * max(tolerance, 0.1)


# ---------------------------------------------------------------- one front door


def test_datasets_decode_paths_through_load_audio(stereo_wav, tmp_path, monkeypatch):
    path = stereo_wav[0]
    m4a = encode(path, tmp_path / "stereo.m4a", "-c:a", "aac")
    calls = []
    original = audio_io.load_audio
    monkeypatch.setattr(audio_io, "load_audio", lambda *args, **kwargs: calls.append(args[0]) or original(*args, **kwargs))
    np.testing.assert_array_equal(decode_audio(str(m4a)), original(m4a))
    batch = decode_audio_batch({"audio": [{"path": str(m4a), "bytes": None}]})
    np.testing.assert_array_equal(batch["audio"][0]["array"], original(m4a))
    assert calls == [str(m4a), str(m4a)]
    with pytest.raises(AudioError, match="missing.pcm: no such file"):
        decode_audio({"path": str(tmp_path / "missing.pcm"), "bytes": None})
    # embedded bytes (no file) decode with the same downmix
    flac = encode(path, tmp_path / "stereo.flac")
    np.testing.assert_array_equal(decode_audio({"path": "x.flac", "bytes": flac.read_bytes()}), original(flac))
    with pytest.raises(AudioError, match=r"x.flac cannot be decoded"):
        decode_audio({"path": "x.flac", "bytes": b"not audio"})
