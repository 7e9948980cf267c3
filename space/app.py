"""ko_asr demo Space: transcribe an upload or a microphone recording with DeepSpeech2 or Whisper, or speak live to a
streaming DeepSpeech2 and watch the transcript grow.

All model logic is in `ko_asr.serving`; this file only wires widgets. Settings (environment variables):
    KO_ASR_MODELS              extra models, `:`-separated: model dirs, dirs of models, or Hub ids
    KO_ASR_DEVICE              device the models run on (`cpu`, `cuda`, `cuda:1`; default: cuda when available)
    KO_ASR_MAX_AUDIO_SECONDS   longest accepted input (default 600)
    KO_ASR_VAD                 0 transcribes whole inputs; by default only the speech voice activity detection finds
    KO_ASR_WHISPER_GUARD       0 turns Whisper's hallucination guard off (thresholds, fallback, repetition check)
    KO_ASR_CONCURRENCY         requests transcribed at once (default 2); the rest wait in Gradio's queue
    KO_ASR_EXAMPLES_CORPUS     synthetic corpus for example clips (default: bundled examples/, else ../data/synthetic-demo)
"""

from __future__ import annotations

import html
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from ko_asr.serving import (
    InvalidInputError,
    ServiceConfig,
    TranscriptionService,
    export_examples,
    find_models,
)
from ko_asr.transcript_formats import render

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
# `models/` when the Space is pushed with its model (make space-bundle); `../outputs` in a clone after `make demo`.
SEARCH_ROOTS = (str(HERE / "models"), str(HERE.parent / "outputs"))
NO_MODEL_HELP = (
    "**No model found.** Train the demo model with `make demo` (about 10 minutes on a laptop CPU; it writes "
    "`outputs/ds2-demo`), or point `KO_ASR_MODELS` at a saved DeepSpeech2 or Whisper directory, then restart."
)
ABOUT = (
    "# ko_asr: Korean speech recognition\n"
    "Upload a file or record yourself, pick a model, and read the transcript with word or segment timings "
    "(and download them as subtitles). "
    "Give the reference text to see the character error rate (CER)."
)
# A box in the page flow under the title, not a toast: it stays, and toasts (top right) never cover it.
SYNTHETIC_NOTICE = (
    '<div role="note" style="border:1px solid #d97706;background:#fef3c7;color:#78350f;border-radius:8px;'
    'padding:10px 14px;font-size:15px"><strong>Synthetic speech only.</strong> The <code>ds2-demo</code> model '
    "is trained on espeak-ng speech, not on real voices: expect it to do poorly on your recordings. Point "
    "<code>KO_ASR_MODELS</code> at a model trained on KsponSpeech for real use.</div>"
)
NO_SPEECH = "No speech detected"
# The decoding radio's choices, as the service names them.
DECODINGS = {"language model": "lm", "greedy": "greedy"}
HOTWORDS_EXAMPLE = "서초구, 김민준"
NO_STREAMING_HELP = (
    "**No streaming model.** Live transcription needs a unidirectional DeepSpeech2 trained with global feature "
    "statistics: `accelerate launch recipes/train.py recipes/configs/ds2_streaming.yaml` writes `outputs/ds2-streaming`."
)
# Subtitle files of a request stay this long on disk (Gradio serves its own copies).
SUBTITLE_LIFETIME_SECONDS = 3600
# Seconds of audio per streamed chunk: what the streaming benchmark measures latency at (benchmarks/streaming.py).
LIVE_CHUNK_SECONDS = 0.32
ERROR_STYLE = (
    "border:1px solid #dc2626;background:#fef2f2;color:#991b1b;border-radius:8px;padding:10px 14px;font-size:15px"
)


def error_box(message: str) -> str:
    """The inline error shown under the buttons until the next success (Gradio's toast fades after seconds and
    leaves only red "Error" badges). Escaped: messages quote file names and typed text."""
    return f'<div role="alert" style="{ERROR_STYLE}"><strong>Error:</strong> {html.escape(message)}</div>'


def _run(service: TranscriptionService, model_label, audio, reference, decoding, hotwords):
    """One request through the service: the `Transcription`, and `(transcript, cer, timestamps, details)` as the
    widgets show them; bad input raises `gr.Error`."""
    try:
        result = service.transcribe(
            model_label, audio, reference, decoding=DECODINGS.get(decoding, decoding or "lm"), hotwords=hotwords
        )
    except InvalidInputError as error:
        raise gr.Error(str(error)) from None
    cer = "" if result.cer is None else f"{100 * result.cer:.1f}%"
    words = [[word, round(start, 2), round(end, 2)] for word, start, end in result.words]
    details = (
        f"{result.audio_seconds:.1f} s of audio in {result.processing_seconds:.2f} s with `{result.model}` "
        f"on {service.cache.device}"
        + ("" if result.has_word_timestamps else
           " (segment times: word timings come from CTC models such as DeepSpeech2, and from Whisper checkpoints "
           "with alignment heads)" if words else
           " (no timestamps: Whisper without alignment heads times segments on recordings over 30 s only)")
    )
    if result.no_speech:  # said in words: an empty transcript box reads like a failure
        details = (f"**{NO_SPEECH}**: voice activity detection found none in {result.audio_seconds:.1f} s of "
                   "audio, so nothing was transcribed.")
    else:  # the model ran: how it decoded, and what of the request's decoding choice it could not follow
        details += f"\n\ndecoding: {result.decoding}"
        if result.hotwords:
            details += " with hotwords " + ", ".join(result.hotwords)
        details += "".join(f"\n\n_Note: {note}._" for note in result.notes)
    return result, (result.text, cer, words, details)


def _transcribe(service: TranscriptionService):
    """The API endpoints' function: `(transcript, cer, timestamps, details)` (timestamps: word or segment rows);
    bad input raises `gr.Error`, which API clients receive as the error message. `decoding` is a radio choice
    (`"language model"`, `"greedy"`; the service's `"lm"` too) and `hotwords` a comma-separated string; both have
    defaults, so three-argument callers still work."""

    def transcribe(model_label, audio, reference, decoding="language model", hotwords=None):
        return _run(service, model_label, audio, reference, decoding, hotwords)[1]

    return transcribe


def subtitle_files(transcript, directory: Path) -> list[str]:
    """`transcript` (a `TimedTranscript`) written as `transcript.srt` and `transcript.vtt` in a new folder under
    `directory` (Gradio copies them to its cache when the request returns; folders older than an hour are removed
    here), for the download box; none when it has no segments."""
    if transcript is None or not transcript.segments:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        if old.is_dir() and time.time() - old.stat().st_mtime > SUBTITLE_LIFETIME_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=directory))
    paths = []
    for output_format in ("srt", "vtt"):
        path = folder / f"transcript.{output_format}"
        path.write_text(render(transcript, output_format), encoding="utf-8")
        paths.append(str(path))
    return paths


def _transcribe_in_page(service: TranscriptionService, downloads: Path):
    """The buttons' function: the API's outputs, the subtitle files and the error box, which shows the message
    instead of raising (the previous results are cleared, so they are not taken for this input's)."""

    def transcribe_in_page(model_label, audio, reference, decoding, hotwords):
        try:
            result, shown = _run(service, model_label, audio, reference, decoding, hotwords)
            return (*shown, subtitle_files(result.transcript, downloads) or None, gr.update(value="", visible=False))
        except gr.Error as error:
            message = error.message
        except Exception as error:  # noqa: BLE001 - a bug must still say something in the page
            logger.exception("transcription failed")
            message = f"transcription failed ({type(error).__name__}); the server log has the details"
        return "", "", None, "", None, gr.update(value=error_box(message), visible=True)

    return transcribe_in_page


def _live(service: TranscriptionService):
    """The live tab's functions: each microphone chunk -> the partial transcript; the end of the recording -> the
    final one. The session (a `LiveSession`: resampler + streaming recognizer) lives in the browser tab's state."""

    def on_chunk(model_label, chunk, session):
        if chunk is None:
            return gr.update(), session
        try:
            if session is None or session[0] != model_label:
                session = (model_label, service.start_live(model_label))
            return session[1].feed(*chunk), session
        except (InvalidInputError, ValueError) as error:
            raise gr.Error(str(error)) from None

    def on_stop(session):
        if session is None:
            return gr.update(), None
        return session[1].finish(), session

    return on_chunk, on_stop


def build_demo(service: TranscriptionService, examples: list[tuple[str, str]] | None = None) -> gr.Blocks:
    """The UI around `service`. API endpoints: `/transcribe` (upload) and `/transcribe_microphone`, each taking
    `(model, audio, reference, decoding="language model", hotwords=None)`; the live tab streams over Gradio's queue."""
    labels = list(service.models)
    live_labels = service.streaming_models
    with gr.Blocks(title="ko_asr — Korean ASR") as demo:
        gr.Markdown(ABOUT)
        gr.HTML(SYNTHETIC_NOTICE, elem_id="synthetic-notice")
        if not labels:
            gr.Markdown(NO_MODEL_HELP, elem_id="no-model")
        model = gr.Dropdown(labels, value=labels[0] if labels else None, label="Model", elem_id="model")
        reference = gr.Textbox(label="Reference text (optional, for CER)", elem_id="reference")
        with gr.Row():
            decoding = gr.Radio(
                list(DECODINGS), value="language model", label="Decoding", elem_id="decoding",
                info="beam search with the model's language model (greedy when it has none), or greedy",
            )
            hotwords = gr.Textbox(
                label="Hotwords (optional, comma-separated)", elem_id="hotwords",
                placeholder=HOTWORDS_EXAMPLE, info="names and terms the language model decoding favours",
            )
        with gr.Tab("Upload"):
            upload = gr.Audio(sources=["upload"], type="filepath", label="Audio file", elem_id="upload")
            upload_button = gr.Button("Transcribe", variant="primary", elem_id="transcribe-upload")
            if examples:
                gr.Examples([[path, text] for path, text in examples], inputs=[upload, reference], label="Synthetic examples")
        with gr.Tab("Microphone"):
            recording = gr.Audio(sources=["microphone"], type="filepath", label="Recording", elem_id="microphone")
            record_button = gr.Button("Transcribe", variant="primary", elem_id="transcribe-microphone")
        with gr.Tab("Live"):
            if not live_labels:
                gr.Markdown(NO_STREAMING_HELP, elem_id="no-streaming-model")
            live_model = gr.Dropdown(live_labels, value=live_labels[0] if live_labels else None,
                                     label="Streaming model", elem_id="live-model")
            live_audio = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Speak",
                                  elem_id="live-microphone")
            live_text = gr.Textbox(label="Live transcript (greedy, grows while you speak)", elem_id="live-transcript",
                                   interactive=False)
            live_session = gr.State(None)
        error = gr.HTML(visible=False, elem_id="error")
        with gr.Row():
            transcript = gr.Textbox(label="Transcript", elem_id="transcript", interactive=False, scale=5)
            cer = gr.Textbox(label="CER", elem_id="cer", interactive=False, scale=1, min_width=100)
        words = gr.Dataframe(headers=["text", "start (s)", "end (s)"], label="Timestamps (words, or Whisper segments)",
                             elem_id="words", interactive=False)
        subtitles = gr.File(label="Subtitles (SRT, WebVTT)", file_count="multiple", elem_id="subtitles", interactive=False)
        details = gr.Markdown(label="Details", elem_id="details")
        outputs = [transcript, cer, words, details]
        subtitles_dir = Path(tempfile.gettempdir()) / "ko_asr_subtitles"
        transcribe, in_page = _transcribe(service), _transcribe_in_page(service, subtitles_dir)
        for button, audio, api_name in ((upload_button, upload, "transcribe"), (record_button, recording, "transcribe_microphone")):
            inputs = [model, audio, reference, decoding, hotwords]
            # One concurrency group: KO_ASR_CONCURRENCY bounds all transcriptions, from the page and the API.
            button.click(in_page, inputs, [*outputs, subtitles, error], api_visibility="private", concurrency_id="transcribe")
            # The API endpoint has no button (triggers=[]): same inputs and outputs, errors raised for clients.
            gr.on([], transcribe, inputs, outputs, api_name=api_name, concurrency_id="transcribe")
        on_chunk, on_stop = _live(service)
        live_audio.stream(on_chunk, [live_model, live_audio, live_session], [live_text, live_session],
                          stream_every=LIVE_CHUNK_SECONDS, time_limit=int(service.config.max_seconds),
                          api_visibility="private", concurrency_id="live", concurrency_limit=None)
        live_audio.stop_recording(on_stop, [live_session], [live_text, live_session], api_visibility="private")
    return demo


def create_app() -> gr.Blocks:
    """The Space as configured by the environment (see the module docstring)."""
    service = TranscriptionService(find_models(SEARCH_ROOTS), ServiceConfig.from_env())
    # An explicit corpus wins; then the clips a bundle ships; then the corpus `make demo` writes.
    default_corpus = HERE / "examples" if (HERE / "examples").is_dir() else HERE.parent / "data" / "synthetic-demo"
    examples = export_examples(os.environ.get("KO_ASR_EXAMPLES_CORPUS", str(default_corpus)), HERE / ".examples")
    demo = build_demo(service, examples)
    return demo.queue(default_concurrency_limit=int(os.environ.get("KO_ASR_CONCURRENCY", "2")))


if __name__ == "__main__":
    # Length is refused from the file header; this bounds the upload itself (10 min of 48 kHz stereo WAV is 110 MB).
    create_app().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), max_file_size="200mb")
