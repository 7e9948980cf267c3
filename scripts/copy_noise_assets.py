"""Copy the project's noise clips and room impulse responses into `ko_asr/assets/noise/` (run once, by maintainers).

The source is the collection described in its own README (24 clips, 5 RIRs, 16 kHz mono, licences per file). The
repo copy keeps it small and split for honest measurement:
- one segment per recording (the source cuts some recordings into 2-3 files; those repeats are dropped);
- clips cut to their first `--train_seconds` / `--eval_seconds` and stored as FLAC (lossless);
- `train/` recordings are the only ones augmentation mixes in; `eval/` recordings (different recordings, and two
  different rooms) are heard only by `recipes/compare.py`, so noise robustness is measured on unseen noise.

    python scripts/copy_noise_assets.py --source ../shared/data/noise
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import soundfile as sf

EVAL_CLIPS = {"cafe_restaurant_01", "street_city_traffic_01", "transport_train_01", "weather_rain_03",
              "office_typing_01", "household_running_tap_01"}
TRAIN_CLIPS = {"car_engine_01", "crowd_applause_01", "crowd_cheering_01", "household_cat_room_01",
               "household_exercise_bike_01", "kitchen_dishes_01", "street_construction_01", "transport_boat_engine_01",
               "transport_train_02", "weather_rain_01", "weather_wind_01"}
EVAL_RIRS = {"rir_domestic_living_room", "rir_seminar_room_clap"}
TRAIN_RIRS = {"rir_spokane_womans_club", "rir_terrys_typing_room", "rir_york_sports_centre"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "ko_asr/assets/noise")
    parser.add_argument("--train_seconds", type=float, default=8.0)
    parser.add_argument("--eval_seconds", type=float, default=10.0)
    args = parser.parse_args()
    with open(args.source / "manifest.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if args.output.exists():
        shutil.rmtree(args.output)
    kept = []
    for row in rows:
        stem = Path(row["file"]).stem
        kind = "rir" if row["file"].startswith("rir/") else "clips"
        split = ("eval" if stem in EVAL_CLIPS | EVAL_RIRS else "train" if stem in TRAIN_CLIPS | TRAIN_RIRS else None)
        if split is None:
            continue  # a repeated segment of a recording already kept
        audio, rate = sf.read(args.source / row["file"], dtype="int16")
        if kind == "clips":
            audio = audio[: int(rate * (args.eval_seconds if split == "eval" else args.train_seconds))]
        target = args.output / kind / split / f"{stem}.flac"
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, audio, rate, subtype="PCM_16")
        kept.append({**row, "file": target.relative_to(args.output).as_posix(), "split": split,
                     "duration_s": f"{len(audio) / rate:.3f}"})
    with open(args.output / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "split", *[k for k in rows[0] if k != "file"]])
        writer.writeheader()
        writer.writerows(kept)
    shutil.copytree(args.source / "licenses", args.output / "licenses")
    print(f"{len(kept)} files into {args.output}")


if __name__ == "__main__":
    main()
