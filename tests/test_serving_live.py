"""The Space's live tab, below the UI: chunk-wise resampling, the live session, and which models can stream."""

import numpy as np
import pytest
import torch
import torchaudio
from helpers import make_waveform

from ko_asr.serving import InvalidInputError, read_audio_file
from ko_asr.serving.live import StreamResampler
from ko_asr.serving.registry import can_stream
from ko_asr.streaming import StreamingRecognizer


@pytest.mark.parametrize("rate", [48000, 44100, 8000, 16000])
def test_stream_resampler_equals_resampling_the_whole_recording(rate):
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(int(rate * 1.37))).astype(np.float32)
    whole = torchaudio.functional.resample(torch.from_numpy(audio), rate, 16000).numpy()
    resampler, pieces, position = StreamResampler(rate), [], 0
    for size in [1, 4000, 333, 0, 9999, 17] * 40:
        pieces.append(resampler(audio[position:position + size]))
        position += size
        if position >= audio.size:
            break
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces)
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() < 1e-5


def test_live_session_transcribes_browser_chunks_like_the_whole_recording(service, examples):
    clip, text = examples[0]
    waveform = read_audio_file(clip)
    label = "memorized-streaming (deepspeech2)"
    # The browser's view of it: 48 kHz int16 stereo in 320 ms chunks.
    browser = torchaudio.functional.resample(torch.from_numpy(waveform), 16000, 48000).numpy()
    stereo = (np.stack([browser, browser], axis=1) * 32767).astype(np.int16)
    session = service.start_live(label)
    partials = [session.feed(48000, stereo[start:start + 15360]) for start in range(0, len(stereo), 15360)]
    final = session.finish()
    assert final == text
    assert any(partials[:-1]) and all(later.startswith(earlier) for earlier, later in zip(partials, partials[1:]))
    again = [session.feed(48000, stereo[start:start + 15360]) for start in range(0, len(stereo), 15360)]
    assert session.finish() == text and again[-1].startswith(again[0])  # the session starts over after finish


def test_only_streamable_models_are_offered_live(service):
    assert service.streaming_models == ["memorized-streaming (deepspeech2)"]
    assert not can_stream(service.models["memorized (deepspeech2)"])
    with pytest.raises(InvalidInputError, match="cannot transcribe live; streaming models: memorized-streaming"):
        service.start_live("memorized (deepspeech2)")


def test_live_session_stops_at_the_length_limit_and_the_next_stream_is_whole(service, examples):
    session = service.start_live("memorized-streaming (deepspeech2)")
    session.max_seconds = 0.5
    rng = np.random.default_rng(1)
    for _ in range(5):
        session.feed(16000, make_waveform(rng, 0.32))
    assert session.limited and session.recognizer.seconds <= 0.5 + 0.32
    session.finish()
    clip, text = examples[0]
    waveform = read_audio_file(clip)
    session.max_seconds = 30.0
    browser = torchaudio.functional.resample(torch.from_numpy(waveform), 16000, 48000).numpy()
    for start in range(0, browser.size, 15360):
        session.feed(48000, browser[start:start + 15360])
    alone = StreamingRecognizer(session.recognizer.processor, model=session.recognizer.engine.encoder.model)
    alone.accept(torchaudio.functional.resample(torch.from_numpy(browser), 48000, 16000).numpy())
    assert not session.limited and session.finish() == alone.finish() == text  # its tail was flushed


def test_live_session_refuses_a_changing_rate(service):
    session = service.start_live("memorized-streaming (deepspeech2)")
    session.feed(48000, np.zeros(4800, dtype=np.int16))
    with pytest.raises(ValueError, match="changed from 48000 to 44100"):
        session.feed(44100, np.zeros(4410, dtype=np.int16))
