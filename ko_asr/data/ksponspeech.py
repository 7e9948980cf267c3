"""AI Hub "한국어 음성" (KsponSpeech) directory -> `datasets.DatasetDict`, in its real on-disk form.

The corpus is not copied: rows point at the `.pcm` files and decode with a numpy read. Preparation (listing,
CP949 transcripts, normalization, durations from file sizes) runs in `num_proc` processes through
`Dataset.from_generator`, is cached as Arrow and re-runs from the cache. Nothing is silently lost: every
utterance that is skipped or repaired is a row of the load report, with its path and the reason.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from ..text import (
    MalformedTranscriptError,
    TranscriptDecodeError,
    UnintelligibleUtteranceError,
    decode_transcript,
    normalize_transcript,
    read_transcript,
)
from .audio import SAMPLING_RATE, decode_audio_batch
from .duration import DurationLimits
from .skip_reasons import KEPT, SkipReason

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "eval_clean", "eval_other")
DEV_FOLDERS = range(621, 624)  # KsponSpeech_0621-0623 are the official dev set
TRN_SHARD_LINES = 20_000

# Row issues are SkipReason values: the KEPT ones load (repaired), every other one skips the utterance and is counted
# in the LoadReport with its path.

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "audio": {"path": datasets.Value("string"), "bytes": datasets.Value("binary")},
        "text": datasets.Value("string"),
        "raw_text": datasets.Value("string"),
        "duration": datasets.Value("float64"),
        "issue": datasets.Value("string"),
    }
)
_FOLDER = re.compile(r"KsponSpeech_(\d{4})$")
_TRN_LINE = re.compile(r"^(?P<path>\S+\.pcm) :: (?P<text>.*)$")


@dataclass
class LoadReport:
    """What a load kept, repaired and skipped. `entries` holds `(split, path, reason)` for every utterance that is
    not loaded as-is; `counts` sums them per reason; `loaded` counts rows per split."""

    root: str
    loaded: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    entries: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, split: str, path: str, reason: str) -> None:
        self.entries.append((split, path, reason))
        self.counts[reason] = self.counts.get(reason, 0) + 1

    def summary(self) -> str:
        loaded = ", ".join(f"{split} {n:,}" for split, n in self.loaded.items())
        problems = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.counts.items())) or "none"
        return f"KsponSpeech at {self.root}: loaded {loaded}; skipped or repaired: {problems}"

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- discovery
def _find_trn_scripts(root: Path) -> dict[str, Path]:
    for folder in (root / "scripts", root):
        found = {split: folder / f"{split}.trn" for split in SPLITS if (folder / f"{split}.trn").is_file()}
        if found:
            return found
    return {}


def eval_folder(root: Path, split: str) -> Path | None:
    """The folder of an eval split (`eval_clean`, `eval_other`) in either layout: under `KsponSpeech_eval/`, or at
    the root when the eval zip unpacked without that level. `None` when absent."""
    for candidate in (root / "KsponSpeech_eval" / split, root / split):
        if candidate.is_dir():
            return candidate
    return None


def _folder_shards(root: Path) -> dict[str, list[dict]]:
    """Shards of the layout without scripts: one per numbered folder (dev = 0621-0623) and per eval folder."""
    shards: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for part in sorted(root.glob("KsponSpeech_0[1-9]")):
        for folder in sorted(part.iterdir()):
            match = _FOLDER.match(folder.name)
            if match and folder.is_dir():
                split = "dev" if int(match.group(1)) in DEV_FOLDERS else "train"
                shards[split].append({"kind": "folder", "path": str(folder), "version": folder.stat().st_mtime_ns})
    for split in ("eval_clean", "eval_other"):
        folder = eval_folder(root, split)
        if folder is not None:
            shards[split].append({"kind": "folder", "path": str(folder), "version": folder.stat().st_mtime_ns})
    return shards


def _trn_shards(root: Path, scripts: dict[str, Path]) -> dict[str, list[dict]]:
    """Shards of the official scripts: line ranges of each `.trn` file."""
    shards: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for split, script in scripts.items():
        with open(script, "rb") as handle:
            lines = sum(1 for _ in handle)
        version = script.stat().st_mtime_ns
        for start in range(0, lines, TRN_SHARD_LINES):
            shards[split].append(
                {"kind": "trn", "path": str(script), "root": str(root), "version": version,
                 "start": start, "stop": min(start + TRN_SHARD_LINES, lines)}
            )
    return shards


# ---------------------------------------------------------------------------------------------- rows
def _row(utt_id: str, pcm: str | None, raw: str, duration: float, issue: str, options: dict) -> dict:
    text = ""
    if issue in KEPT:
        try:
            text = normalize_transcript(raw, utterance_id=utt_id, **options)
        except UnintelligibleUtteranceError:
            issue = SkipReason.UNINTELLIGIBLE_DROPPED
        except MalformedTranscriptError:
            issue = SkipReason.MALFORMED_NOTATION
        else:
            if not text:
                issue = SkipReason.EMPTY_AFTER_NORMALIZATION
    return {"id": utt_id, "audio": {"path": pcm, "bytes": None}, "text": text, "raw_text": raw,
            "duration": duration, "issue": issue}


def _pcm_issue(size: int) -> str:
    if size == 0:
        return SkipReason.ZERO_LENGTH_PCM
    return SkipReason.ODD_BYTE_COUNT if size % 2 else ""


def _folder_rows(folder: str, options: dict) -> Iterator[dict]:
    names: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, extension = os.path.splitext(entry.name)
            if extension in (".pcm", ".txt"):
                names.setdefault(stem, set()).add(extension)
                if extension == ".pcm":
                    sizes[stem] = entry.stat().st_size
    for stem in sorted(names):
        pcm, txt = os.path.join(folder, stem + ".pcm"), os.path.join(folder, stem + ".txt")
        if ".pcm" not in names[stem]:
            yield _row(stem, txt, "", 0.0, SkipReason.MISSING_PCM, options)
            continue
        size = sizes[stem]
        if ".txt" not in names[stem]:
            yield _row(stem, pcm, "", size // 2 / SAMPLING_RATE, SkipReason.MISSING_TXT, options)
            continue
        issue = _pcm_issue(size)
        raw = ""
        if issue != SkipReason.ZERO_LENGTH_PCM:
            try:
                raw = read_transcript(txt)
            except TranscriptDecodeError as error:
                issue, raw = SkipReason.UNDECODABLE_TRANSCRIPT, str(error)
        yield _row(stem, pcm, raw, size // 2 / SAMPLING_RATE, issue, options)


def _resolve_trn_path(root: str, relative: str) -> str | None:
    candidates = [os.path.join(root, relative)]
    if relative.startswith("KsponSpeech_eval/"):  # the eval zip sometimes unpacks without this level
        candidates.append(os.path.join(root, relative[len("KsponSpeech_eval/") :]))
    return next((c for c in candidates if os.path.isfile(c)), None)


def _trn_rows(shard: dict, options: dict) -> Iterator[dict]:
    # Bytes, decoded line by line: re-saved scripts turn up in UTF-8 (with or without a BOM) or CP949.
    with open(shard["path"], "rb") as handle:
        for number, data in enumerate(itertools.islice(handle, shard["start"], shard["stop"]), start=shard["start"]):
            where = f"{shard['path']}:{number + 1}"
            try:
                # The path and " :: " are ASCII in both encodings; the transcript is decoded on its own, so a short
                # CP949 transcript is judged by its own bytes (see decode_transcript's `korean_line`).
                head, separator, text = data.rstrip(b"\r\n").partition(b" :: ")
                line = decode_transcript(head, where, korean_line=False) + separator.decode() + (
                    decode_transcript(text, where) if separator else ""
                )
            except TranscriptDecodeError as error:
                yield _row(where, where, str(error), 0.0, SkipReason.UNDECODABLE_TRANSCRIPT, options)
                continue
            match = _TRN_LINE.match(line)
            if match is None:
                yield _row(where, where, line, 0.0, SkipReason.TRN_UNPARSEABLE_LINE, options)
                continue
            relative, raw = match.group("path"), match.group("text")
            stem = os.path.splitext(os.path.basename(relative))[0]
            pcm = _resolve_trn_path(shard["root"], relative)
            if pcm is None:
                yield _row(stem, os.path.join(shard["root"], relative), raw, 0.0, SkipReason.TRN_MISSING_FILE, options)
                continue
            size = os.path.getsize(pcm)
            yield _row(stem, pcm, raw, size // 2 / SAMPLING_RATE, _pcm_issue(size), options)


def _preparation_version() -> str:
    """A hash of the code that turns corpus files into rows (this loader, the notation parser, the text decoder).

    `datasets` fingerprints a generator by its own code and arguments, not by what it calls, so without this a corpus
    prepared by older normalization code would keep loading from the cache with the old text and skip reasons.
    """
    from ..text import encoding, kspon

    sources = "".join(inspect.getsource(module) for module in (sys.modules[__name__], kspon, encoding))
    return hashlib.sha1(sources.encode("utf-8")).hexdigest()[:16]


def _generate_rows(shards: list[dict], options: dict, preparation_version: str = "") -> Iterator[dict]:
    """`Dataset.from_generator` entry point; `shards` is split across processes. `preparation_version` only keys the
    cache (see [`_preparation_version`])."""
    for shard in shards:
        yield from _folder_rows(shard["path"], options) if shard["kind"] == "folder" else _trn_rows(shard, options)


# ---------------------------------------------------------------------------------------------- public API
def _column(dataset: datasets.Dataset, name: str) -> pa.ChunkedArray:
    return dataset.data.table.column(name)


def _paths(dataset: datasets.Dataset, indices: pa.Array) -> list[str]:
    return _column(dataset, "audio").combine_chunks().field("path").take(indices).to_pylist()


def _check_unique_ids(prepared: dict[str, datasets.Dataset]) -> None:
    """Raise on an id seen twice anywhere in the corpus (Arrow compute: no Python loop over rows)."""
    ids = pa.chunked_array([chunk for d in prepared.values() for chunk in _column(d, "id").chunks], type=pa.string())
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
    if repeated:
        where = []
        for dataset in prepared.values():
            mask = pc.is_in(_column(dataset, "id"), value_set=pa.array(repeated[:5]))
            indices = pc.indices_nonzero(mask.combine_chunks())
            where += [f"{i} at {p}" for i, p in zip(_column(dataset, "id").take(indices).to_pylist(), _paths(dataset, indices))]
        raise ValueError(f"{len(repeated)} duplicate utterance ids, e.g. " + "; ".join(sorted(where)[:10]))


def load_ksponspeech(
    root: str | os.PathLike[str],
    policy: str = "spelling",
    splits: Sequence[str] | None = None,
    num_proc: int | None = None,
    cache_dir: str | None = None,
    streaming: bool = False,
    min_duration: float = 0.0,
    max_duration: float | None = None,
    unintelligible: str = "remove",
    keep_punctuation: bool = False,
    return_report: bool = False,
) -> datasets.DatasetDict | datasets.IterableDatasetDict | tuple[datasets.DatasetDict, LoadReport]:
    """Load an AI Hub KsponSpeech directory (layout and notation: `docs/ksponspeech_format.md`) as a `datasets.DatasetDict`.

    Args:
        root (`str` or `os.PathLike`):
            The corpus root holding `KsponSpeech_01..05/`, the eval folders (with or without the
            `KsponSpeech_eval/` level) and optionally the official scripts (`scripts/*.trn` or `*.trn`).
        policy (`str`, *optional*, defaults to `"spelling"`):
            Transcript policy of [`~ko_asr.text.normalize_transcript`]: `"spelling"` or `"phonetic"`.
        splits (`Sequence[str]`, *optional*):
            Subset of `train`, `dev`, `eval_clean`, `eval_other`; all that exist by default. Splits come from the
            `.trn` scripts when present, otherwise from folder numbers (dev = 0621-0623), never listing order.
        num_proc (`int`, *optional*):
            Processes preparing the manifest.
        cache_dir (`str`, *optional*):
            Where the Arrow cache and the load report JSON go (the `datasets` cache by default).
        streaming (`bool`, *optional*, defaults to `False`):
            Return an `IterableDatasetDict` that reads lazily (no cache, no report).
        min_duration, max_duration (`float`, *optional*):
            Keep utterances within these seconds; the rest are counted as `too_short` / `too_long`.
        unintelligible (`str`, *optional*, defaults to `"remove"`):
            `u/` handling: `"remove"`, `"token"` or `"drop"` (skips and counts the utterance).
        keep_punctuation (`bool`, *optional*, defaults to `False`):
            Keep `. , ? !` in `text`.
        return_report (`bool`, *optional*, defaults to `False`):
            Also return the [`LoadReport`].

    Returns:
        `DatasetDict` with columns `id`, `audio` (decodes on access to `{"path", "array", "sampling_rate"}`, 16 kHz
        float32), `text` (normalized), `raw_text`, `duration` (seconds); plus the report if asked.

    Raises:
        FileNotFoundError: when `root` holds no KsponSpeech data.
        ValueError: on duplicate utterance ids or an unknown split.
    """
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise FileNotFoundError(f"KsponSpeech root {root_path} is not a directory")
    scripts = _find_trn_scripts(root_path)
    shards = _trn_shards(root_path, scripts) if scripts else _folder_shards(root_path)
    unknown = set(splits or ()) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; KsponSpeech has {SPLITS}")
    wanted = [s for s in (splits or SPLITS) if shards[s]]
    missing = set(splits or ()) - set(wanted)
    if missing or not wanted:
        raise FileNotFoundError(f"{root_path}: no data found for splits {sorted(missing) or list(SPLITS)}")
    options = {"policy": policy, "unintelligible": unintelligible, "keep_punctuation": keep_punctuation}
    limits = DurationLimits(min_duration, max_duration)
    version = _preparation_version()

    def keep(issue: str, duration: float) -> bool:
        return issue in KEPT and limits.reason(duration) is None

    if streaming:
        streams = {
            split: datasets.IterableDataset.from_generator(
                _generate_rows, features=FEATURES, gen_kwargs={"shards": shards[split], "options": options, "preparation_version": version}
            )
            .filter(keep, input_columns=["issue", "duration"])
            .remove_columns("issue")
            .map(decode_audio_batch, batched=True, batch_size=16)
            for split in wanted
        }
        return datasets.IterableDatasetDict(streams)

    prepared = {
        split: datasets.Dataset.from_generator(
            _generate_rows, features=FEATURES, cache_dir=cache_dir,
            gen_kwargs={"shards": shards[split], "options": options, "preparation_version": version},
            num_proc=min(num_proc, len(shards[split])) if num_proc and num_proc > 1 else None,
            split=datasets.Split(split),
        )
        for split in wanted
    }
    _check_unique_ids(prepared)
    report = LoadReport(root=str(root_path))
    result = {}
    for split, dataset in prepared.items():
        issues = _column(dataset, "issue").combine_chunks()
        durations = _column(dataset, "duration").combine_chunks()
        flagged = pc.indices_nonzero(pc.not_equal(issues, ""))
        for path, issue in zip(_paths(dataset, flagged), issues.take(flagged).to_pylist()):
            report.add(split, path, issue)
        usable = pc.is_in(issues, value_set=pa.array(KEPT))
        keep_mask = usable
        for reason, mask in limits.masks(durations).items():
            mask = pc.and_(usable, mask)
            keep_mask = pc.and_(keep_mask, pc.invert(mask))
            for path in _paths(dataset, pc.indices_nonzero(mask)):
                report.add(split, path, reason)
        keep_indices = pc.indices_nonzero(keep_mask)
        kept = dataset.select(keep_indices.to_numpy().astype("int64")) if len(keep_indices) < len(dataset) else dataset
        result[split] = kept.remove_columns("issue").with_transform(decode_audio_batch)
        report.loaded[split] = len(kept)
    report_path = Path(prepared[wanted[0]].cache_files[0]["filename"]).parent / "ksponspeech_load_report.json"
    report.save(report_path)
    logger.info("%s (report: %s)", report.summary(), report_path)
    if report.counts:
        logger.warning(report.summary())
    dataset_dict = datasets.DatasetDict(result)
    return (dataset_dict, report) if return_report else dataset_dict
