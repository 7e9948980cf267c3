"""ko_asr.serving.audio_input: what users hand the Space becomes 16 kHz mono or a clear error."""


import numpy as np
import pytest
import soundfile
from helpers import (
    EXPECTED_ERRORS,
    SPACE_MAX_SECONDS,
    encode_aac,
    make_waveform,
)

from ko_asr.serving import (
    InvalidInputError,
    TranscriptionService,
    from_array,
    read_audio_file,
)

# ---------------------------------------------------------------- audio input


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (44100, 2), (48000, 6)])
def test_any_rate_and_channel_count_becomes_16k_mono(tmp_path, rng, rate, channels):
    # every channel different, so taking one channel instead of the mean would fail
    multi = np.stack([make_waveform(rng, 1.5, sampling_rate=rate) * (c + 1) / channels for c in range(channels)], axis=1)
    path = tmp_path / f"clip_{rate}_{channels}.wav"
    soundfile.write(path, multi, rate, subtype="FLOAT")
    waveform = read_audio_file(path)
    assert waveform.ndim == 1 and waveform.dtype == np.float32
    assert abs(waveform.size - 1.5 * 16000) <= 2
    mean_at_16k = read_audio_file(_write(tmp_path / "mean.wav", multi.mean(axis=1), rate))
    np.testing.assert_allclose(waveform, mean_at_16k, atol=1e-5)
    as_array = from_array(rate, (multi * 32767).astype(np.int16))
    np.testing.assert_allclose(as_array, waveform, atol=2e-3)


def _write(path, samples, rate):
    soundfile.write(path, samples, rate, subtype="FLOAT")
    return path


def test_length_and_limit_never_read_the_same():
    from ko_asr.serving.audio_input import duration_text

    assert duration_text(600.04, round_up=True) == "10:00.1" and duration_text(600) == "10:00.0"
    assert duration_text(3725.25) == "1:02:05.2" and duration_text(2.14, round_up=True) == "0:02.2"


def test_unsigned_pcm_is_centred_and_dc_offset_is_not_sound(service):
    # 8-bit WAV silence is 128: it must come out as 0, and then be refused as silent
    silent_uint8 = np.full(16000, 128, dtype=np.uint8)
    assert np.abs(from_array(16000, silent_uint8)).max() == 0
    with pytest.raises(InvalidInputError, match="the recording is silent"):
        service.transcribe(next(iter(service.models)), (16000, silent_uint8))
    with pytest.raises(InvalidInputError, match="is silent"):
        service.transcribe(next(iter(service.models)), (16000, np.full(16000, 0.3, dtype=np.float32)))


def test_formats_soundfile_cannot_read_go_through_ffmpeg(tmp_path, examples):
    clip = examples[0][0]
    m4a = encode_aac(clip, tmp_path / "clip.m4a")
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.read(m4a)
    waveform = read_audio_file(m4a)
    reference = read_audio_file(clip)
    assert abs(waveform.size - reference.size) < 0.05 * 16000  # AAC priming adds a few ms


def test_ffmpeg_decodes_what_is_spoken_and_stops_past_the_limit(tmp_path, service, examples, rng):
    clip, text = examples[0]
    m4a = encode_aac(clip, tmp_path / "clip.m4a", "-b:a", "128k")
    assert service.transcribe(next(iter(service.models)), str(m4a)).text == text
    soundfile.write(tmp_path / "long.wav", make_waveform(rng, SPACE_MAX_SECONDS + 5), 16000)
    long_m4a = encode_aac(tmp_path / "long.wav", tmp_path / "long.m4a")
    with pytest.raises(InvalidInputError, match=r"long.m4a is longer than the limit of 0:30\.0"):
        service.transcribe(next(iter(service.models)), str(long_m4a))


def test_without_ffmpeg_the_message_says_so(tmp_path, monkeypatch, examples):
    m4a = encode_aac(examples[0][0], tmp_path / "clip.m4a")
    monkeypatch.setattr("ko_asr.audio_io.shutil.which", lambda name: None)
    with pytest.raises(InvalidInputError, match="clip.m4a: not a format soundfile can read, and ffmpeg is not installed"):
        read_audio_file(m4a)


def test_a_too_long_file_is_refused_from_its_header(service, bad_inputs, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the samples were decoded")

    monkeypatch.setattr("ko_asr.audio_io.soundfile.read", no_decoding)
    with pytest.raises(InvalidInputError, match=r"long.wav is 0:31\.0 long"):
        service.transcribe(next(iter(service.models)), str(bad_inputs["long.wav"]))


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_service_rejects_bad_audio_with_a_clear_message(service, bad_inputs, name):
    label = next(iter(service.models))
    with pytest.raises(InvalidInputError, match=EXPECTED_ERRORS[name].replace(".", r"\.")):
        service.transcribe(label, str(bad_inputs[name]))


def test_service_rejects_missing_audio_unknown_model_and_empty_reference(service, examples):
    label = next(iter(service.models))
    with pytest.raises(InvalidInputError, match="no audio: upload a file or record"):
        service.transcribe(label, None)
    with pytest.raises(InvalidInputError, match="unknown model 'nope'; available: memorized"):
        service.transcribe("nope", examples[0][0])
    with pytest.raises(InvalidInputError, match="no characters left after normalization"):
        service.transcribe(label, examples[0][0], reference="?!...")
    with pytest.raises(InvalidInputError, match=r"run `make demo`"):
        TranscriptionService([]).transcribe("anything", examples[0][0])
