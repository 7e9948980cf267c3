"""Training-time waveform augmentation: the chain a robust recipe uses, configured by [`AugmentationConfig`].

Per utterance, each step with its own probability: speed, pitch, pauses inside and silence around the utterance,
reverberation (measured or simulated rooms), additive real noise or babble at a random SNR, then the channel (random
gain and light clipping, a low-bitrate codec, or a telephone line). A share of utterances is replaced by noise or
silence alone with an empty transcript, so CTC learns to emit only blanks where nobody speaks.

SpecAugment lives in the model (`DeepSpeech2Config.mask_time_prob` ...), applied in training forward only. The
effects themselves are in [`ko_asr.data.effects`], the shipped noise and rooms in [`ko_asr.data.noise_bank`].
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from .audio import SAMPLING_RATE
from .effects import (
    babble,
    fit_noise,
    gain_and_clip,
    generated_noise,
    insert_pause,
    lossy_codec,
    mix_at_snr,
    pad_silence,
    pitch_shift,
    power,
    reverberate,
    speed_perturb,
    telephone,
)
from .noise_bank import (
    load_noise_clips,
    noise_clips,
    room_impulse_responses,
    simulated_room_impulse_responses,
)


@dataclass
class AugmentationConfig:
    """Probabilities and ranges of the augmentation chain (all off by default). Ranges are drawn uniformly.

    Every field is a command-line flag of `recipes/train.py` and `recipes/finetune_whisper.py`.
    """

    noise_prob: float = field(default=0.0, metadata={"help": "Probability of adding real noise (or babble) at a random SNR."})
    snr_min_db: float = field(default=0.0, metadata={"help": "Lowest SNR of added noise, dB (against the speech alone)."})
    snr_max_db: float = field(default=20.0, metadata={"help": "Highest SNR of added noise, dB."})
    noise_dir: str | None = field(
        default=None,
        metadata={"help": "Noise recordings (.wav/.flac) to mix in; default: ko_asr's shipped train-split recordings. "
                  "'generated' uses white/pink/brown noise instead."},
    )
    babble_share: float = field(default=0.2, metadata={"help": "Share of the added noise that is babble of other utterances in the batch."})
    babble_speakers: int = field(default=4, metadata={"help": "Utterances summed into babble (at most the batch's others)."})
    reverb_prob: float = field(default=0.0, metadata={"help": "Probability of convolving with a room impulse response."})
    simulated_rooms: int = field(default=16, metadata={"help": "Simulated shoebox rooms drawn beside the measured train rooms (0: measured only)."})
    rir_max_seconds: float = field(default=1.0, metadata={"help": "Reverberation tail kept, seconds."})
    speed_perturb: bool = field(default=False, metadata={"help": "Speed perturbation with factors 0.9 / 1.0 / 1.1."})
    pitch_prob: float = field(default=0.0, metadata={"help": "Probability of a pitch/formant shift."})
    pitch_semitones: float = field(default=2.0, metadata={"help": "Largest pitch shift, semitones (either way)."})
    silence_prob: float = field(default=0.0, metadata={"help": "Probability of silence (room noise once noise is added) before and after the speech."})
    max_silence_seconds: float = field(default=1.0, metadata={"help": "Longest silence on each side, seconds."})
    pause_prob: float = field(default=0.0, metadata={"help": "Probability of a pause inserted inside the utterance."})
    max_pause_seconds: float = field(default=0.5, metadata={"help": "Longest inserted pause, seconds."})
    room_tone_db: float = field(default=-60.0, metadata={"help": "Level (dBFS, RMS) of the faint room noise under padded silence when no noise is added."})
    telephone_prob: float = field(default=0.0, metadata={"help": "Probability of a telephone channel (8 kHz, mu-law)."})
    codec_prob: float = field(default=0.0, metadata={"help": "Probability of a low-bitrate codec round trip (MP3 or GSM)."})
    gain_prob: float = field(default=0.0, metadata={"help": "Probability of a random gain (-20..+10 dB) with light clipping when loud."})
    noise_only_prob: float = field(
        default=0.0,
        metadata={"help": "Probability of replacing an utterance by noise or silence alone, with an empty transcript."},
    )
    ramp_start_step: int = field(
        default=0, metadata={"help": "Optimizer step before which nothing is augmented (CTC leaves its blank plateau on clean audio first)."}
    )
    ramp_steps: int = field(
        default=0, metadata={"help": "Steps over which every probability rises linearly from 0 to its value, after ramp_start_step."}
    )
    ramp_below_train_loss: float | None = field(
        default=None,
        metadata={"help": "Start the ramp only once the training loss (moving average) falls below this, i.e. once CTC "
                  "has left its blank plateau, whenever that happens; ramp_start_step stays the earliest start."},
    )

    def __post_init__(self):
        for name in ("noise_prob", "babble_share", "reverb_prob", "pitch_prob", "silence_prob", "pause_prob",
                     "telephone_prob", "codec_prob", "gain_prob", "noise_only_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.ramp_start_step < 0 or self.ramp_steps < 0:
            raise ValueError("ramp_start_step and ramp_steps must be >= 0")
        if self.babble_speakers < 1 or self.pitch_semitones < 0 or self.rir_max_seconds <= 0:
            raise ValueError("babble_speakers must be >= 1, pitch_semitones >= 0 and rir_max_seconds > 0")
        if self.max_pause_seconds < 0.1 or self.max_silence_seconds < 0:
            raise ValueError("max_pause_seconds must be >= 0.1 (pauses last 0.1 s at least), max_silence_seconds >= 0")
        if self.snr_min_db > self.snr_max_db:
            raise ValueError(f"snr_min_db ({self.snr_min_db}) is above snr_max_db ({self.snr_max_db})")

    @property
    def active(self) -> bool:
        probabilities = (self.noise_prob, self.reverb_prob, self.pitch_prob, self.silence_prob, self.pause_prob,
                         self.telephone_prob, self.codec_prob, self.gain_prob, self.noise_only_prob)
        return self.speed_perturb or any(p > 0 for p in probabilities)

    @property
    def ramped(self) -> bool:
        return self.ramp_start_step > 0 or self.ramp_steps > 0 or self.ramp_below_train_loss is not None

    def strength(self, step: int, loss_reached_at: int | None = None) -> float:
        """How much of every probability applies at optimizer `step` (0 before the ramp, 1 after it);
        `loss_reached_at` is the step where the training loss fell below `ramp_below_train_loss` (`None`: not yet)."""
        start = self.ramp_start_step
        if self.ramp_below_train_loss is not None:
            if loss_reached_at is None:
                return 0.0
            start = max(start, loss_reached_at)
        if step < start:
            return 0.0
        return 1.0 if self.ramp_steps == 0 else min(1.0, (step - start) / self.ramp_steps)

    def scaled(self, strength: float) -> AugmentationConfig:
        """This config with every probability times `strength` (speed perturbation on once `strength` > 0)."""
        if strength >= 1.0:
            return self
        names = ("noise_prob", "reverb_prob", "pitch_prob", "silence_prob", "pause_prob", "telephone_prob",
                 "codec_prob", "gain_prob", "noise_only_prob")
        return replace(self, speed_perturb=self.speed_perturb and strength > 0,
                       **{name: getattr(self, name) * strength for name in names})


@dataclass
class WaveformAugmenter:
    """Applies an [`AugmentationConfig`] to the utterances of a batch.

    Random draws come from [`batch_rng`], a function of (seed, epoch, utterance ids): the same batch is augmented
    the same way in any process or DataLoader worker and after a resume, with no state to save. With a ramp
    (`config.ramp_start_step`, `config.ramp_steps`, `config.ramp_below_train_loss`) the probabilities also follow
    `step` and `loss_reached_at`, which the training loop sets before each batch is collated (so a ramp needs the
    collation in the training process: no DataLoader workers) and saves in checkpoints.

    Args:
        config ([`AugmentationConfig`]): what to apply, how often.
        noise_clips (`list[np.ndarray]`): real noise recordings (16 kHz); when empty, noise is generated
            (white / pink / brown).
        room_impulse_responses (`list[np.ndarray]`): aligned responses ([`align_room_impulse_response`]).
        seed (`int`): base seed; the training loop sets `epoch`.
    """

    config: AugmentationConfig = field(default_factory=AugmentationConfig)
    noise_clips: list[np.ndarray] = field(default_factory=list)
    room_impulse_responses: list[np.ndarray] = field(default_factory=list)
    seed: int = 0
    epoch: int = 0
    step: int = 0
    loss_reached_at: int | None = None

    @classmethod
    def from_config(cls, config: AugmentationConfig, seed: int = 0) -> WaveformAugmenter:
        """Read the noise and rooms `config` asks for: its `noise_dir` or the shipped train recordings, the shipped
        train rooms plus `simulated_rooms` simulated ones."""
        clips: list[np.ndarray] = []
        if (config.noise_prob > 0 or config.noise_only_prob > 0) and config.noise_dir != "generated":
            clips = load_noise_clips(config.noise_dir) if config.noise_dir else noise_clips("train")
        rooms: list[np.ndarray] = []
        if config.reverb_prob > 0:
            rooms = room_impulse_responses("train", config.rir_max_seconds)
            rooms += simulated_room_impulse_responses(config.simulated_rooms, seed, max_seconds=config.rir_max_seconds)
        return cls(config, clips, rooms, seed)

    @property
    def active(self) -> bool:
        return self.config.active

    def batch_rng(self, ids: list[str]) -> np.random.Generator:
        key = zlib.crc32("\x00".join(ids).encode("utf-8"))
        return np.random.default_rng([self.seed, self.epoch, key])

    def augment_batch(self, waveforms: list[np.ndarray], ids: list[str]) -> tuple[list[np.ndarray], list[bool]]:
        """Augment a batch's waveforms (other utterances of the batch make the babble).

        Returns:
            `(waveforms, keeps_transcript)`: `keeps_transcript[i]` is `False` where utterance `i` became noise or
            silence alone, whose transcript is then empty.
        """
        rng = self.batch_rng(ids)
        ramped = self.config.ramped
        config = self.config.scaled(self.config.strength(self.step, self.loss_reached_at)) if ramped else self.config
        out, keeps = [], []
        for index, waveform in enumerate(waveforms):
            others = [w for j, w in enumerate(waveforms) if j != index and w.size]
            augmented, kept = self.augment(waveform, rng, others, config=config)
            out.append(augmented)
            keeps.append(kept)
        return out, keeps

    @staticmethod
    def _generated(length: int, rng: np.random.Generator) -> np.ndarray:
        return generated_noise(str(rng.choice(("white", "pink", "brown"))), length, rng)

    def _noise(self, length: int, rng: np.random.Generator) -> np.ndarray:
        """A real recording when there are any, else generated noise."""
        if self.noise_clips:
            return self.noise_clips[int(rng.integers(len(self.noise_clips)))]
        return self._generated(length, rng)

    def _noise_only(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noise at the level it would have had under this utterance, generated noise, faint noise or digital
        silence."""
        length = max(int(rng.uniform(0.5, 1.0) * waveform.size), SAMPLING_RATE // 2)
        kind = rng.random()
        if kind < 0.1:  # digital silence: a muted input, or padding
            return np.zeros(length, dtype=np.float32)
        if kind < 0.2:  # a very quiet microphone
            level_db = rng.uniform(-90.0, -50.0)
            noise = generated_noise("white", length, rng)
        else:
            noise = self._noise(length, rng) if kind < 0.8 else self._generated(length, rng)
            # Where speech would be at the utterance's level, noise sits below it by an SNR of the training range.
            level_db = 10 * np.log10(power(waveform) or 1e-10) - rng.uniform(self.config.snr_min_db, self.config.snr_max_db + 10)
        noise = fit_noise(noise, length, rng)
        return (noise * np.sqrt(10 ** (level_db / 10) / (power(noise) or 1.0))).astype(np.float32)

    def augment(
        self,
        waveform: np.ndarray,
        rng: np.random.Generator,
        babble_sources: list[np.ndarray] | None = None,
        config: AugmentationConfig | None = None,
    ) -> tuple[np.ndarray, bool]:
        """One utterance through the chain (`config`, by default the augmenter's); returns `(waveform,
        keeps_transcript)` (see [`augment_batch`])."""
        c = config or self.config
        if c.noise_only_prob > 0 and rng.random() < c.noise_only_prob:
            return self._noise_only(waveform, rng), False
        if c.speed_perturb:
            waveform = speed_perturb(waveform, float(rng.choice((0.9, 1.0, 1.1))))
        if c.pitch_prob > 0 and rng.random() < c.pitch_prob:
            waveform = pitch_shift(waveform, float(rng.uniform(-c.pitch_semitones, c.pitch_semitones)))
        if c.reverb_prob > 0 and self.room_impulse_responses and rng.random() < c.reverb_prob:
            waveform = reverberate(waveform, self.room_impulse_responses[int(rng.integers(len(self.room_impulse_responses)))])
        speech_power = power(waveform)  # before pauses and padding: the SNR is against the speech alone
        if c.pause_prob > 0 and rng.random() < c.pause_prob:
            waveform = insert_pause(waveform, float(rng.uniform(0.1, c.max_pause_seconds)), rng)
        padded = False
        if c.silence_prob > 0 and rng.random() < c.silence_prob:
            waveform = pad_silence(waveform, *rng.uniform(0.0, c.max_silence_seconds, size=2))
            padded = True
        if c.noise_prob > 0 and rng.random() < c.noise_prob:
            if babble_sources and rng.random() < c.babble_share:
                chosen = rng.choice(len(babble_sources), size=min(c.babble_speakers, len(babble_sources)), replace=False)
                noise = babble([babble_sources[i] for i in chosen], waveform.size, rng)
            else:
                noise = self._noise(waveform.size, rng)
            waveform = mix_at_snr(waveform, noise, float(rng.uniform(c.snr_min_db, c.snr_max_db)), rng, speech_power)
        elif padded:  # a real microphone is never digitally silent between utterances
            tone = self._generated(waveform.size, rng)
            waveform = (waveform + tone * np.float32(10 ** (c.room_tone_db / 20))).astype(np.float32)
        channel = rng.random()
        if c.telephone_prob > 0 and channel < c.telephone_prob:
            waveform = telephone(waveform)
        elif c.codec_prob > 0 and channel < c.telephone_prob + c.codec_prob:
            codec = str(rng.choice(("mp3", "gsm")))
            waveform = lossy_codec(waveform, codec, float(rng.uniform(6.0, 9.5)))
        if c.gain_prob > 0 and rng.random() < c.gain_prob:
            peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
            # Light clipping at full scale, as an overdriven input does: the gain lifts peaks at most 3.5 dB over it.
            ceiling_db = 20 * np.log10(1.5 / peak) if peak > 0 else 10.0
            waveform = gain_and_clip(waveform, min(float(rng.uniform(-20.0, 10.0)), ceiling_db), clip_level=1.0)
        return waveform.astype(np.float32), True


__all__ = ["AugmentationConfig", "WaveformAugmenter"]
