"""ko_asr demo Space: transcribe an upload or a microphone recording with DeepSpeech2 or Whisper.

All model logic is in `ko_asr.serving`; this file only wires widgets. Settings (environment variables):
    KO_ASR_MODELS              extra models, `:`-separated: model dirs, dirs of models, or Hub ids
    KO_ASR_MAX_AUDIO_SECONDS   longest accepted input (default 600)
    KO_ASR_CONCURRENCY         requests transcribed at once (default 2); the rest wait in Gradio's queue
    KO_ASR_EXAMPLES_CORPUS     synthetic corpus for example clips (default: bundled examples/, else ../data/synthetic-demo)
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from ko_asr.serving import (
    InvalidInputError,
    ServiceConfig,
    TranscriptionService,
    export_examples,
    find_models,
)

HERE = Path(__file__).resolve().parent
# `models/` when the Space is pushed with its model (make space-bundle); `../outputs` in a clone after `make demo`.
SEARCH_ROOTS = (str(HERE / "models"), str(HERE.parent / "outputs"))
NO_MODEL_HELP = (
    "**No model found.** Train the demo model with `make demo` (about 10 minutes on a laptop CPU; it writes "
    "`outputs/ds2-demo`), or point `KO_ASR_MODELS` at a saved DeepSpeech2 or Whisper directory, then restart."
)
ABOUT = (
    "# ko_asr: Korean speech recognition\n"
    "Upload a file or record yourself, pick a model, and read the transcript with word timings. "
    "Give the reference text to see the character error rate (CER). The `ds2-demo` model is trained on "
    "*synthetic* espeak-ng speech only: expect it to do poorly on real voices."
)


def _transcribe(service: TranscriptionService):
    def transcribe(model_label, audio, reference):
        try:
            result = service.transcribe(model_label, audio, reference)
        except InvalidInputError as error:
            raise gr.Error(str(error)) from None
        cer = "" if result.cer is None else f"{100 * result.cer:.1f}%"
        words = [[word, round(start, 2), round(end, 2)] for word, start, end in result.words]
        details = (
            f"{result.audio_seconds:.1f} s of audio in {result.processing_seconds:.2f} s with `{result.model}`"
            + ("" if result.has_word_timestamps else " (word timings come from CTC models such as DeepSpeech2)")
        )
        return result.text, cer, words, details

    return transcribe


def build_demo(service: TranscriptionService, examples: list[tuple[str, str]] | None = None) -> gr.Blocks:
    """The UI around `service`. API endpoints: `/transcribe` (upload) and `/transcribe_microphone`."""
    labels = list(service.models)
    with gr.Blocks(title="ko_asr — Korean ASR") as demo:
        gr.Markdown(ABOUT)
        if not labels:
            gr.Markdown(NO_MODEL_HELP, elem_id="no-model")
        model = gr.Dropdown(labels, value=labels[0] if labels else None, label="Model", elem_id="model")
        reference = gr.Textbox(label="Reference text (optional, for CER)", elem_id="reference")
        with gr.Tab("Upload"):
            upload = gr.Audio(sources=["upload"], type="filepath", label="Audio file", elem_id="upload")
            upload_button = gr.Button("Transcribe", variant="primary", elem_id="transcribe-upload")
            if examples:
                gr.Examples([[path, text] for path, text in examples], inputs=[upload, reference], label="Synthetic examples")
        with gr.Tab("Microphone"):
            recording = gr.Audio(sources=["microphone"], type="filepath", label="Recording", elem_id="microphone")
            record_button = gr.Button("Transcribe", variant="primary", elem_id="transcribe-microphone")
        with gr.Row():
            transcript = gr.Textbox(label="Transcript", elem_id="transcript", interactive=False, scale=5)
            cer = gr.Textbox(label="CER", elem_id="cer", interactive=False, scale=1, min_width=100)
        words = gr.Dataframe(headers=["word", "start (s)", "end (s)"], label="Word timestamps", elem_id="words", interactive=False)
        details = gr.Markdown(label="Details", elem_id="details")
        outputs = [transcript, cer, words, details]
        transcribe = _transcribe(service)
        upload_button.click(transcribe, [model, upload, reference], outputs, api_name="transcribe")
        record_button.click(transcribe, [model, recording, reference], outputs, api_name="transcribe_microphone")
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
