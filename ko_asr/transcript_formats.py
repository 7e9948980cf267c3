"""Timed transcripts and the files they are written to: JSON, SubRip (`.srt`) and WebVTT (`.vtt`).

An `automatic-speech-recognition` pipeline result holds `text` and, when asked for timestamps, `chunks` of
`{"text", "timestamp": (start, end)}`: words for CTC models (`return_timestamps="word"`) and for Whisper models with
alignment heads, segments for other Whisper models (`ko_asr.whisper_long_form`). [`timed_transcript`] turns either
into one [`TimedTranscript`], grouping words into segments at pauses, and the writers render it.

SRT and VTT are written here rather than through a subtitle library: a cue is an index (SRT), a
`start --> end` line and text, so the writers are a few lines, and the project keeps no dependency for them. Pure
Python (the `ko-asr` entry module spells out `FORMATS` itself: importing this module runs `ko_asr/__init__`, which
loads the model libraries).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

#: A silence at least this long between two words starts a new segment (a subtitle cue): about twice the gap
#: between words of one phrase in conversational speech, so segments break where a speaker pauses.
PAUSE_SECONDS = 0.5
#: Longest segment grown from words, in seconds: subtitle style guides cap a cue at about 7 s on screen.
MAX_SEGMENT_SECONDS = 7.0

FORMATS = ("text", "json", "srt", "vtt")
EXTENSIONS = {"text": ".txt", "json": ".json", "srt": ".srt", "vtt": ".vtt"}


@dataclass(frozen=True)
class TimedText:
    """A word or segment: `text` from `start` to `end` seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class DroppedText:
    """Text Whisper's hallucination guard removed (`ko_asr.hallucination_guard`), with its times when it had some
    (`None` otherwise) and the `reason`."""

    text: str
    start: float | None
    end: float | None
    reason: str


@dataclass
class TimedTranscript:
    """One file's transcript with its timings.

    Args:
        path (`str`): the audio file, as given.
        text (`str`): the transcript.
        duration (`float`): the audio length in seconds; every time lies within `[0, duration]`.
        timestamps (`str` or `None`): the finest timing the model gave: `"word"` (CTC models), `"segment"`
            (Whisper) or `None` (other models: one segment spans the whole file).
        words (`list[TimedText]` or `None`): word times; `None` when the model gives none.
        segments (`list[TimedText]`): the cues of SRT and VTT.
        dropped (`list[DroppedText]`): what the hallucination guard removed (empty without a guard).
    """

    path: str
    text: str
    duration: float
    timestamps: str | None
    words: list[TimedText] | None
    segments: list[TimedText]
    dropped: list[DroppedText] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-ready dict; times rounded to milliseconds."""
        def timed(items):
            return [{**asdict(t), "start": _rounded(t.start), "end": _rounded(t.end)} for t in items]

        return {
            "path": self.path, "text": self.text, "duration": round(self.duration, 3), "timestamps": self.timestamps,
            "words": None if self.words is None else timed(self.words), "segments": timed(self.segments),
            "dropped": timed(self.dropped),
        }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _times(chunks: Sequence[dict], duration: float) -> list[TimedText]:
    """Pipeline chunks as monotone times clamped to the audio: CTC end offsets can pass the last sample by a frame,
    and Whisper leaves a time `None` where it predicted no timestamp token (then the neighbours' times stand in)."""
    timed, previous_end = [], 0.0
    for index, chunk in enumerate(chunks):
        text = " ".join(str(chunk["text"]).split())
        start, end = chunk["timestamp"]
        if end is None:
            following = chunks[index + 1]["timestamp"][0] if index + 1 < len(chunks) else None
            end = duration if following is None else following
        start = previous_end if start is None else start
        start = min(max(float(start), previous_end), duration)
        end = min(max(float(end), start), duration)
        previous_end = end
        if text:
            timed.append(TimedText(text, start, end))
    return timed


def group_words(
    words: Sequence[TimedText], pause: float = PAUSE_SECONDS, max_seconds: float = MAX_SEGMENT_SECONDS
) -> list[TimedText]:
    """Segments of consecutive `words`: a new one starts after a silence of at least `pause` seconds, or when the
    current one would grow past `max_seconds` (a single longer word stays one segment)."""
    segments: list[list[TimedText]] = []
    for word in words:
        current = segments[-1] if segments else None
        if current is None or word.start - current[-1].end >= pause or word.end - current[0].start > max_seconds:
            segments.append([word])
        else:
            current.append(word)
    return [TimedText(" ".join(w.text for w in group), group[0].start, group[-1].end) for group in segments]


def timed_transcript(
    path: str, result: dict, duration: float, word_timestamps: bool, segment_timestamps: bool
) -> TimedTranscript:
    """One pipeline `result` as a [`TimedTranscript`].

    Args:
        path (`str`): the audio file.
        result (`dict`): the pipeline output (`text`, and `chunks` when timestamps were asked for).
        duration (`float`): the audio length in seconds.
        word_timestamps, segment_timestamps (`bool`): what the model family's chunks are (see
            `BatchTranscriber.word_timestamps` and `.segment_timestamps`).
    """
    text = " ".join(result["text"].split())
    chunks = result.get("chunks") or []
    dropped = [DroppedText(" ".join(str(d["text"]).split()), *d["timestamp"], d["reason"]) for d in result.get("dropped", [])]
    if word_timestamps:
        words = _times(chunks, duration)
        return TimedTranscript(path, text, duration, "word", words, group_words(words), dropped)
    if segment_timestamps and (chunks or not text):  # nothing said (VAD found no speech): no segments, same kind
        return TimedTranscript(path, text, duration, "segment", None, _times(chunks, duration), dropped)
    whole = [TimedText(text, 0.0, duration)] if text else []
    return TimedTranscript(path, text, duration, None, None, whole, dropped)


def _clock(seconds: float, separator: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def to_srt(segments: Sequence[TimedText]) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""
    return "".join(
        f"{number}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n\n"
        for number, s in enumerate(segments, start=1)
    )


def to_vtt(segments: Sequence[TimedText]) -> str:
    """WebVTT: the `WEBVTT` header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm` with their text."""
    return "WEBVTT\n\n" + "".join(f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n\n" for s in segments)


def render(transcript: TimedTranscript, output_format: str, with_path: bool = False) -> str:
    """`transcript` in `output_format` (one of `FORMATS`), ending in a newline.

    `with_path` prefixes the text format with `PATH<tab>` (several files on one stream); JSON is then one line
    (JSON Lines).
    """
    if output_format == "text":
        return f"{transcript.path}\t{transcript.text}\n" if with_path else f"{transcript.text}\n"
    if output_format == "json":
        return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=None if with_path else 1) + "\n"
    if output_format == "srt":
        return to_srt(transcript.segments)
    if output_format == "vtt":
        return to_vtt(transcript.segments)
    raise ValueError(f"unknown format {output_format!r}; expected one of {FORMATS}")


__all__ = [
    "DroppedText", "EXTENSIONS", "FORMATS", "MAX_SEGMENT_SECONDS", "PAUSE_SECONDS", "TimedText", "TimedTranscript", "group_words",
    "render", "timed_transcript", "to_srt", "to_vtt",
]
