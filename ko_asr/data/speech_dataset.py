"""Any ASR dataset -> the ko_asr columns (`id`, `audio`, `text`, `raw_text`, `duration`).

Recipes take KsponSpeech, a Zeroth-style folder or any `datasets` ASR dataset by configuration, because every
source is adapted to the same columns and the same audio decoding as [`load_ksponspeech`].
"""

from __future__ import annotations

import csv
import io
import logging
import os
import unicodedata
from pathlib import Path

import datasets
import pyarrow.compute as pc
import soundfile

from ..text import MalformedTranscriptError, UnintelligibleUtteranceError, read_text_file
from ..text.policy import TranscriptPolicy
from .audio import PCM_EXTENSION, SAMPLING_RATE, audio_duration, decode_audio, decode_audio_batch
from .skip_reasons import SkipReason

logger = logging.getLogger(__name__)

AUDIO_COLUMNS = ("audio", "file_name", "file", "path", "audio_path")
TEXT_COLUMNS = ("text", "transcription", "sentence", "transcript", "normalized_text", "raw_text")
ID_COLUMNS = ("id", "utt_id", "utterance_id", "key", "segment_id")
MANIFESTS = ("metadata.csv", "manifest.csv")
#: A manifest column naming each row's split (`train`, `test`, ...); without it a folder is one split.
SPLIT_COLUMN = "split"
AUDIO_STORAGE = datasets.Features({"path": datasets.Value("string"), "bytes": datasets.Value("binary")})
FLAC_BLOCK_SAMPLES = 4096  # libsndfile's FLAC frame length at 16 kHz


def column(dataset: datasets.Dataset, name: str) -> list:
    """All values of a non-audio column, read from Arrow without decoding any audio.

    `dataset[name]` on a dataset with the decoding transform is a lazy column that formats row by row, so summing
    durations or listing texts would decode every file; dropping the format first reads only the column.
    """
    return dataset.with_format(None)[name][:]


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, source: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{source}: no {what} column {wanted!r}; columns are {columns}")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise ValueError(f"{source}: cannot tell which column holds the {what}; pass {what}_column= (columns: {columns})")


def _existing_form(path: Path) -> str:
    """`path` as it exists on disk: a manifest written in NFC names files that macOS stores in NFD, and back."""
    if not path.exists():
        for form in ("NFD", "NFC"):
            candidate = Path(unicodedata.normalize(form, str(path)))
            if candidate.exists():
                return str(candidate)
    return str(path)


def _read_manifest(folder: Path) -> tuple[Path, list[dict[str, str]]]:
    manifest = next((folder / name for name in MANIFESTS if (folder / name).is_file()), None)
    if manifest is None:
        raise FileNotFoundError(f"{folder}: no {' or '.join(MANIFESTS)} describing the audio files")
    rows = list(csv.DictReader(io.StringIO(read_text_file(manifest), newline="")))  # UTF-8 (BOM or not) or CP949
    if not rows:
        raise ValueError(f"{manifest}: no rows")
    return manifest, rows


def _manifest_splits(manifest: Path, rows: list[dict[str, str]]) -> list[str] | None:
    if SPLIT_COLUMN not in rows[0]:
        return None
    names = [row[SPLIT_COLUMN].strip() for row in rows]
    if not all(names):
        raise ValueError(f"{manifest}: {names.count('')} rows have an empty `{SPLIT_COLUMN}`")
    return list(dict.fromkeys(names))


def folder_splits(folder: str | os.PathLike[str]) -> list[str] | None:
    """The splits a folder's manifest names in its `split` column (in order of appearance), or `None` when it has
    no such column: the folder is then one split, which answers to whichever name is asked for."""
    return _manifest_splits(*_read_manifest(Path(folder)))


def _read_folder(folder: Path, split: str | None = None) -> datasets.Dataset | datasets.DatasetDict:
    """A folder with `metadata.csv` (audiofolder style, `file_name` column) or `manifest.csv`.

    A `split` column divides the rows: all splits as a `DatasetDict`, or the one `split` asked for (refused with
    the list of splits when absent). Without one the folder is one split: a `Dataset`, whatever `split` asks for.
    """
    manifest, rows = _read_manifest(folder)
    available = _manifest_splits(manifest, rows)
    if available is not None:
        if split is not None and split not in available:
            raise ValueError(f"{folder}: no split {split!r}; the `{SPLIT_COLUMN}` column of {manifest.name} has {available}")
        rows = [{**row, SPLIT_COLUMN: row[SPLIT_COLUMN].strip()} for row in rows]
        rows = [row for row in rows if split is None or row[SPLIT_COLUMN] == split]
    audio = _pick(list(rows[0]), None, AUDIO_COLUMNS, "audio", str(manifest))
    table = {name: [row[name] for row in rows] for name in rows[0]}
    table[audio] = [_existing_form(folder / row[audio]) for row in rows]
    missing = [p for p in table[audio] if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{manifest}: {len(missing)} listed audio files do not exist, e.g. {missing[:3]}")
    if available is None or split is not None:
        return datasets.Dataset.from_dict(table)
    names = table.pop(SPLIT_COLUMN)
    return datasets.DatasetDict({
        name: datasets.Dataset.from_dict({key: [v for v, n in zip(values, names) if n == name] for key, values in table.items()})
        for name in available
    })


def _select_split(source: datasets.Dataset | datasets.DatasetDict, split: str, name: str) -> datasets.Dataset:
    """`split` of an in-memory dataset: a `DatasetDict`'s entry, or a `Dataset` that is that split (or has no name)."""
    if isinstance(source, datasets.DatasetDict):
        if split not in source:
            raise ValueError(f"{name}: no split {split!r}; it has {list(source)}")
        return source[split]
    if source.split is not None and str(source.split) != split:
        raise ValueError(f"{name}: it is the {str(source.split)!r} split, not {split!r}")
    return source


def _adapt(
    dataset: datasets.Dataset,
    source: str,
    audio_column: str | None,
    text_column: str | None,
    id_column: str | None,
    policy: TranscriptPolicy | None,
    num_proc: int | None,
) -> datasets.Dataset:
    columns = dataset.column_names
    audio = _pick(columns, audio_column, AUDIO_COLUMNS, "audio", source)
    text = _pick(columns, text_column, TEXT_COLUMNS, "text", source)
    identifier = next((c for c in ((id_column,) if id_column else ID_COLUMNS) if c in columns), None)
    if isinstance(dataset.features[audio], datasets.Audio):
        dataset = dataset.cast_column(audio, datasets.Audio(decode=False))

    def convert(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {"id": [], "audio": [], "text": [], "raw_text": [], "duration": [], "problem": []}
        for i, index in enumerate(indices):
            value = batch[audio][i]
            stored = value if isinstance(value, dict) else {"path": str(value), "bytes": None}
            stored = {"path": stored.get("path"), "bytes": stored.get("bytes")}
            raw = batch[text][i] or ""
            utt_id = str(batch[identifier][i]) if identifier else Path(stored["path"] or f"{index:08d}").stem
            problem, duration = "", 0.0
            try:
                duration = audio_duration(stored)
            except Exception as error:  # noqa: BLE001 - any unreadable file is reported, not fatal
                problem = f"{SkipReason.UNREADABLE_AUDIO}: {error}"
            try:
                clean = (
                    policy.normalize(raw, utterance_id=utt_id) if policy is not None
                    else unicodedata.normalize("NFC", raw.strip())
                )
            except MalformedTranscriptError as error:
                clean, problem = "", problem or f"{SkipReason.MALFORMED_NOTATION}: {error}"
            except UnintelligibleUtteranceError as error:
                clean, problem = "", problem or f"{SkipReason.UNINTELLIGIBLE_DROPPED}: {error}"
            if not problem and not clean:
                problem = str(SkipReason.EMPTY_AFTER_NORMALIZATION)
            for key, item in zip(out, (utt_id, stored, clean, raw, duration, problem)):
                out[key].append(item)
        return out

    features = datasets.Features(
        {"id": datasets.Value("string"), "audio": AUDIO_STORAGE, "text": datasets.Value("string"),
         "raw_text": datasets.Value("string"), "duration": datasets.Value("float64"), "problem": datasets.Value("string")}
    )
    adapted = dataset.map(
        convert, batched=True, with_indices=True, remove_columns=columns, features=features,
        num_proc=num_proc, desc=f"adapting {source}",
    )
    problems = [(i, p) for i, p in zip(adapted["id"], adapted["problem"]) if p]
    if problems:
        logger.warning(
            "%s: skipped %d of %d utterances: %s", source, len(problems), len(adapted),
            "; ".join(f"{i} ({p})" for i, p in problems[:10]),
        )
        adapted = adapted.filter(lambda p: not p, input_columns="problem")
    return adapted.remove_columns("problem").with_transform(decode_audio_batch)


def load_speech_dataset(
    source: str | os.PathLike[str] | datasets.Dataset | datasets.DatasetDict,
    split: str | None = None,
    audio_column: str | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    policy: str | TranscriptPolicy | None = "spelling",
    num_proc: int | None = None,
    **load_kwargs,
) -> datasets.Dataset | datasets.DatasetDict:
    """Adapt any speech dataset to the ko_asr columns.

    Args:
        source:
            A local folder with `metadata.csv` (audiofolder style) or `manifest.csv` listing audio files and
            transcripts; a `datasets.Dataset` / `DatasetDict`; or a name for `datasets.load_dataset` (a Hub id when
            online, a packaged builder such as `"audiofolder"` with `data_dir=` offline).
        split (`str`, *optional*): the split to return, as a `Dataset`; never ignored. A named source passes it to
            `load_dataset`; a folder takes the rows of its manifest's `split` column that have this value, or all
            rows when the manifest has no such column (one split answers to any name); a `DatasetDict` its entry.
            A split the source does not have raises a `ValueError` that lists those it has.
        audio_column, text_column, id_column (`str`, *optional*): column names; guessed from common ones.
        policy (`str`, [`TranscriptPolicy`] or `None`, *optional*, defaults to `"spelling"`): KsponSpeech
            normalization policy for `text`; `None` keeps the transcript as given (stripped, NFC).
        num_proc (`int`, *optional*): processes for the conversion.
        load_kwargs: passed to `datasets.load_dataset`.

    Returns:
        `Dataset` or `DatasetDict` with `id`, `audio` (decodes on access to 16 kHz mono float32
        `{"path", "array", "sampling_rate"}`), `text`, `raw_text` and `duration`. Rows whose audio cannot be read
        or whose transcript is empty are skipped and logged with their ids.
    """
    if isinstance(policy, str):
        policy = TranscriptPolicy(policy=policy)
    name = str(source) if not isinstance(source, (datasets.Dataset, datasets.DatasetDict)) else "dataset"
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir() and not load_kwargs:
        source = _read_folder(Path(source), split)
    elif isinstance(source, (str, os.PathLike)):
        source = datasets.load_dataset(str(source), split=split, **load_kwargs)  # refuses an unknown split itself
    elif split is not None:
        source = _select_split(source, split, name)
    adapt = lambda d, where: _adapt(d, where, audio_column, text_column, id_column, policy, num_proc)  # noqa: E731
    if isinstance(source, datasets.DatasetDict):
        return datasets.DatasetDict({key: adapt(value, f"{name}[{key}]") for key, value in source.items()})
    return adapt(source, name)


def to_audio_dataset(dataset: datasets.Dataset, num_proc: int | None = None, embed: bool = True) -> datasets.Dataset:
    """The same rows with `audio` as a standard `datasets.Audio(sampling_rate=16000)` feature.

    ko_asr datasets keep `audio` as a `{"path", "bytes"}` struct decoded by their own transform, because
    KsponSpeech's headerless `.pcm` is nothing FFmpeg (behind `datasets.Audio`) can recognize. The result decodes
    like any Hub dataset, through torchcodec: `row["audio"]` is an `AudioDecoder` whose `["array"]` is float32 of
    shape `(samples,)` at `["sampling_rate"]` 16000; `cast_column`, `save_to_disk`/`load_from_disk` and
    `push_to_hub` work as usual.

    Args:
        dataset (`datasets.Dataset`): a ko_asr dataset (`id` and `audio` columns; any others are kept), or any
            dataset with those columns, `datasets.Audio` or `{"path", "bytes"}`.
        num_proc (`int`, *optional*): processes for embedding.
        embed (`bool`, *optional*, defaults to `True`): copy each clip into the dataset as 16 kHz mono 16-bit FLAC
            bytes (`"<id>.flac"`; WAV for clips under 0.26 s), so it can leave this machine; decoded samples equal
            ko_asr's decoding to within 16-bit rounding. `False` keeps pointing at the files (no copy, not
            portable) and leaves resampling to torchcodec, whose resampler differs slightly from ko_asr's.

    Raises:
        ValueError: `embed=False` with audio in headerless `.pcm` files (KsponSpeech): embed them instead.
        AudioError: a clip that cannot be decoded while embedding (a `ValueError`, naming the file).
    """
    plain = dataset.with_format(None)  # the stored `{"path", "bytes"}` values, not ko_asr's decoding transform
    if isinstance(plain.features["audio"], datasets.Audio):
        plain = plain.cast_column("audio", datasets.Audio(decode=False))
    # No num_channels=1: FFmpeg's downmix scales by 1/sqrt(2); `["array"]` averages channels, as ko_asr does.
    feature = datasets.Audio(sampling_rate=SAMPLING_RATE)
    if not embed:
        headerless = _headerless_pcm(plain)
        if headerless:
            raise ValueError(
                f"{len(headerless)} clips are headerless {PCM_EXTENSION} files that datasets.Audio cannot decode, "
                f"e.g. {headerless[:3]}; use to_audio_dataset(..., embed=True)"
            )
        return plain.cast_column("audio", feature)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = []
        for audio, utt_id in zip(batch["audio"], batch["id"]):
            waveform = decode_audio(audio)
            # torchcodec 0.17 fails to read a one-frame FLAC a second time (it seeks before the first frame), so a
            # clip of one FLAC block or less goes in as WAV: a few KB more, and `["array"]` can be read again.
            kind = "flac" if waveform.size > FLAC_BLOCK_SAMPLES else "wav"
            buffer = io.BytesIO()
            soundfile.write(buffer, waveform, SAMPLING_RATE, format=kind.upper(), subtype="PCM_16")
            encoded.append({"bytes": buffer.getvalue(), "path": f"{utt_id}.{kind}"})
        return {"audio": encoded}

    features = plain.features.copy()
    features["audio"] = AUDIO_STORAGE
    embedded = plain.map(encode, batched=True, batch_size=64, features=features, num_proc=num_proc, desc="embedding audio")
    return embedded.cast_column("audio", feature)


def _headerless_pcm(dataset: datasets.Dataset) -> list[str]:
    """Paths of clips stored only as a `.pcm` file, read from Arrow without touching the audio."""
    audio = dataset.with_format("arrow")["audio"].combine_chunks()
    paths, data = audio.field("path"), audio.field("bytes")
    is_pcm = pc.fill_null(pc.ends_with(pc.utf8_lower(paths), PCM_EXTENSION), False)
    return paths.filter(pc.and_(is_pcm, pc.is_null(data))).to_pylist()
