"""Sharing a trained model on the Hugging Face Hub: the model, its processor, card and plots, never the run's logs.

A run's `output_dir` follows the transformers `Trainer` layout: the final model at the top level, the run's
artefacts beside it (checkpoints, `metrics.csv`, the TensorBoard `runs/`, `recipes/evaluate.py`'s `eval/`).
[`push_model_folder`] uploads the folder without those artefacts, so what lands on the Hub is what
`from_pretrained` and the model card need.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

#: What a run writes into `output_dir` beside the model; none of it is part of the model, so none is uploaded.
RUN_ARTIFACT_PATTERNS = (
    "checkpoint-*",  # rotated checkpoints (optimizer and RNG states included)
    ".tmp-checkpoint-*",  # a checkpoint being written
    "runs/*",  # the default logging_dir: TensorBoard event files
    "*.tfevents.*",  # event files anywhere else in the folder
    "metrics.csv",  # the raw training log (the card holds the final metrics)
    "eval_results.json",  # the final evaluation (in the card's model-index)
    "eval/*",  # recipes/evaluate.py's default output: metrics.json and transcripts
    "sample_order/*",  # the data-order audit (--record_sample_order)
    "ko_asr/*",  # tracker logs (hparams.yml, events) of runs made before logging_dir existed
)


def upload_ignore_patterns(folder: str | Path, local_dirs: tuple[str | Path, ...] = ()) -> list[str]:
    """The `ignore_patterns` for uploading `folder`: the run artefacts plus any of `local_dirs` (a logging or
    evaluation directory set by hand) that lies inside it."""
    patterns = list(RUN_ARTIFACT_PATTERNS)
    root = Path(folder).resolve()
    for directory in local_dirs:
        path = Path(directory).resolve()
        if path != root and path.is_relative_to(root):
            patterns.append(f"{path.relative_to(root).as_posix()}/*")
    return patterns


def create_hub_repo(repo_id: str, private: bool | None = None) -> str:
    """Create the model repository when it does not exist; returns its full id (`namespace/name`).

    Called when training starts, as the `Trainer` does, so a missing login or a name taken by someone else stops
    the run before hours of training rather than after.
    """
    return HfApi().create_repo(repo_id, private=private, repo_type="model", exist_ok=True).repo_id


def push_model_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    commit_message: str = "Upload model trained with ko_asr",
    local_dirs: tuple[str | Path, ...] = (),
) -> str:
    """Create `repo_id` if needed and upload the model in `folder` (one commit) without the run's artefacts.

    Args:
        folder: the run's `output_dir` (or any folder saved with `save_pretrained`).
        repo_id: `name` or `namespace/name`; a bare name goes to the logged-in user's namespace.
        private: visibility of a newly created repository (`None`: the account's default).
        commit_message: the commit's title.
        local_dirs: further directories that must stay local when they lie inside `folder`.

    Returns:
        `str`: the URL of the commit.
    """
    api = HfApi()
    repo_id = api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True).repo_id
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), repo_type="model", commit_message=commit_message,
        ignore_patterns=upload_ignore_patterns(folder, local_dirs),
    )
    return str(getattr(commit, "commit_url", commit))
