"""Guitar-like takes built from Karplus-Strong strings: plucks, chords, palm mutes, slides, bass.

Every take is a function ``render_<kind>(rng, seconds, sample_rate) -> (time,) float64`` that
uses only ``rng`` for its random choices (so a seed fixes it), varies pick strength from note to
note, and ends in silence: no note starts in the last second and the last 0.25 s fade out.
Levels are set afterwards by the corpus builder (peak normalization). Transcendental functions
come from :mod:`distortion_bench.portable_math`, so a seed gives the same samples on every CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from distortion_bench import portable_math as pm
from distortion_bench.synth.karplus_strong import pluck

#: Seconds at the end of a take in which no note starts (the last notes ring out).
RING_OUT_SECONDS = 1.0
#: Seconds of fade-out at the very end of a take, so that it ends in exact silence.
FADE_OUT_SECONDS = 0.25
#: Pick brightness range (softest, hardest pick) in Hz, and pickup pass band in Hz.
GUITAR_TONE_HZ = (700.0, 7000.0)
BASS_TONE_HZ = (250.0, 2500.0)
GUITAR_BAND_HZ = (60.0, 5000.0)
BASS_BAND_HZ = (30.0, 2500.0)

# Chord voicings as MIDI notes, low string first (open and barre shapes, power chords).
CHORDS: tuple[tuple[int, ...], ...] = (
    (40, 47, 52, 56, 59, 64),  # E
    (40, 47, 52, 55, 59, 64),  # Em
    (45, 52, 57, 61, 64),  # A
    (45, 52, 57, 60, 64),  # Am
    (50, 57, 62, 66),  # D
    (43, 47, 50, 55, 59, 67),  # G
    (48, 52, 55, 60, 64),  # C
    (41, 48, 53, 57, 60, 65),  # F (barre)
    (40, 47, 52),  # E5 power chord
    (45, 52, 57),  # A5 power chord
)


def midi_to_hz(note: float) -> float:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * float(pm.power(2.0, (note - 69.0) / 12.0))


def loss_for_t60(t60_seconds: float, f0_hz: float) -> float:
    """Loop gain per period that makes a string of ``f0_hz`` decay 60 dB in ``t60_seconds``."""
    return float(pm.power(10.0, -3.0 / (t60_seconds * f0_hz)))


def _excitation(
    rng: np.random.Generator, period: float, strength: float, n: int, tone_hz: tuple[float, float], sample_rate: int
) -> np.ndarray:
    """A pick: one period of noise, brighter and louder the harder the pick (strength 0..1).

    The noise goes through a one-pole low-pass whose cutoff moves from ``tone_hz[0]`` (softest
    pick) to ``tone_hz[1]`` (hardest) on a log scale.
    """
    length = max(2, int(round(period)))
    burst = rng.uniform(-1.0, 1.0, length)
    cutoff = tone_hz[0] * float(pm.power(tone_hz[1] / tone_hz[0], strength))
    coeff = float(pm.exp(-2.0 * np.pi * cutoff / sample_rate))
    shaped = lfilter([1.0 - coeff], [1.0, -coeff], burst)
    # Pick position comb (plucking at a fraction of the string length removes some partials).
    position = int(round(length * rng.uniform(0.08, 0.3)))
    shaped[position:] -= shaped[: length - position] * 0.9
    exc = np.zeros(n)
    exc[:length] = shaped * strength / (np.abs(shaped).max() + 1e-12)
    return exc


def _note(
    rng: np.random.Generator,
    sample_rate: int,
    f0_hz: np.ndarray | float,
    strength: float,
    t60: float,
    damping: float,
    length: int,
    release_seconds: float = 0.03,
    tone_hz: tuple[float, float] = GUITAR_TONE_HZ,
) -> np.ndarray:
    """One string note of ``length`` samples; ``f0_hz`` may be a per-sample pitch track."""
    f0 = np.broadcast_to(np.asarray(f0_hz, dtype=np.float64), (length,))
    period = sample_rate / f0
    mean_f0 = float(np.mean(f0))
    exc = _excitation(rng, float(period[0]), strength, length, tone_hz, sample_rate)
    y = pluck(period, exc, loss_for_t60(t60, mean_f0), damping)
    # Release: the player lifts or mutes the string.
    rel = min(length, max(1, int(release_seconds * sample_rate)))
    y[-rel:] *= np.linspace(1.0, 0.0, rel)
    return y


def _add(take: np.ndarray, note: np.ndarray, start: int) -> None:
    stop = min(take.shape[0], start + note.shape[0])
    if stop > start:
        take[start:stop] += note[: stop - start]


def _finish(take: np.ndarray, sample_rate: int, band_hz: tuple[float, float]) -> np.ndarray:
    """Band-limit like a pickup and cable, then fade the end to silence.

    The high-pass removes DC and rumble (the noise bursts carry some); the low-pass stands for
    the pickup's resonance and cable load, which take the string's top octaves down.
    """
    sos = butter(2, band_hz, btype="bandpass", fs=sample_rate, output="sos")
    out = sosfilt(sos, take)
    fade = min(out.shape[0], int(FADE_OUT_SECONDS * sample_rate))
    out[-fade:] *= np.linspace(1.0, 0.0, fade) ** 2
    return out


def _onsets(rng: np.random.Generator, seconds: float, gap: tuple[float, float]) -> list[float]:
    """Note start times (s) from 0.05 s until RING_OUT_SECONDS before the end."""
    times, t = [], 0.05
    while t < seconds - RING_OUT_SECONDS:
        times.append(t)
        t += rng.uniform(*gap)
    return times


def _single_notes(
    rng: np.random.Generator,
    seconds: float,
    sample_rate: int,
    *,
    notes: tuple[int, int],
    gap: tuple[float, float],
    strength: tuple[float, float],
    t60: tuple[float, float],
    damping: tuple[float, float],
    tone_hz: tuple[float, float],
    band_hz: tuple[float, float],
) -> np.ndarray:
    """Single notes (MIDI ``notes[0]`` up to ``notes[1]`` excluded) let ring into the next.

    Every other argument is a (low, high) range that each note draws from.
    """
    n = int(seconds * sample_rate)
    take = np.zeros(n)
    for t in _onsets(rng, seconds, gap):
        start = int(t * sample_rate)
        f0 = midi_to_hz(float(rng.integers(*notes)))
        note = _note(
            rng,
            sample_rate,
            f0,
            rng.uniform(*strength),
            rng.uniform(*t60),
            rng.uniform(*damping),
            n - start,
            tone_hz=tone_hz,
        )
        _add(take, note, start)
    return _finish(take, sample_rate, band_hz)


def render_pluck(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Single notes E2..E5, let ring into the next, with varied pick strength."""
    return _single_notes(
        rng,
        seconds,
        sample_rate,
        notes=(40, 77),
        gap=(0.15, 0.8),
        strength=(0.15, 1.0),
        t60=(1.0, 4.0),
        damping=(0.05, 0.5),
        tone_hz=GUITAR_TONE_HZ,
        band_hz=GUITAR_BAND_HZ,
    )


def render_chord(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Strummed chords: strings 5..25 ms apart, down- or up-strokes, ringing together."""
    n = int(seconds * sample_rate)
    take = np.zeros(n)
    for t in _onsets(rng, seconds, (0.6, 2.0)):
        chord = CHORDS[int(rng.integers(len(CHORDS)))]
        strings = chord if rng.random() < 0.6 else chord[::-1]
        spread = rng.uniform(0.005, 0.025)
        strength = rng.uniform(0.2, 1.0)
        for k, midi in enumerate(strings):
            start = int((t + k * spread) * sample_rate)
            if start >= n:
                break
            note = _note(
                rng,
                sample_rate,
                midi_to_hz(midi),
                strength * rng.uniform(0.7, 1.0),
                rng.uniform(1.5, 3.5),
                rng.uniform(0.1, 0.4),
                n - start,
            )
            _add(take, note, start)
    return _finish(take, sample_rate, GUITAR_BAND_HZ)


def render_palm_mute(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Chugs on the low strings: short, dark, hard-picked notes at 8th or 16th notes."""
    n = int(seconds * sample_rate)
    take = np.zeros(n)
    beat = 60.0 / rng.uniform(90.0, 160.0) / (2 if rng.random() < 0.5 else 4)
    t = 0.05
    root = int(rng.choice([40, 41, 43, 45]))
    while t < seconds - RING_OUT_SECONDS:
        start = int(t * sample_rate)
        length = min(n - start, int(rng.uniform(0.6, 0.95) * beat * sample_rate))
        strength = rng.uniform(0.4, 1.0)
        for midi in (root, root + 7) if rng.random() < 0.5 else (root,):
            note = _note(
                rng, sample_rate, midi_to_hz(midi), strength, rng.uniform(0.08, 0.25), 0.5, length, release_seconds=0.01
            )
            _add(take, note, start)
        t += beat
        if rng.random() < 0.1:
            root = int(rng.choice([40, 41, 43, 45]))
    return _finish(take, sample_rate, GUITAR_BAND_HZ)


def render_slide(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Sustained notes gliding between pitches (log-frequency glides), then vibrato."""
    n = int(seconds * sample_rate)
    take = np.zeros(n)
    onsets = _onsets(rng, seconds, (1.0, 2.5))
    for idx, t in enumerate(onsets):
        start = int(t * sample_rate)
        end = int(onsets[idx + 1] * sample_rate) if idx + 1 < len(onsets) else n
        length = end - start
        a = float(rng.integers(45, 70))
        b = a + float(rng.choice([-7, -5, -3, -2, 2, 3, 5, 7, 12]))
        glide_start = int(rng.uniform(0.05, 0.3) * sample_rate)
        glide_len = int(rng.uniform(0.08, 0.5) * sample_rate)
        pitch = np.full(length, a)
        i0, i1 = min(glide_start, length), min(glide_start + glide_len, length)
        pitch[i0:i1] = np.linspace(a, b, glide_len)[: i1 - i0]
        pitch[i1:] = b
        # Vibrato after the glide: 4.5..6.5 Hz, up to 30 cents.
        tt = np.arange(length - i1) / sample_rate
        depth = rng.uniform(0.0, 0.3)
        pitch[i1:] += depth * pm.sin(2 * np.pi * rng.uniform(4.5, 6.5) * tt) * np.minimum(tt / 0.3, 1.0)
        f0 = 440.0 * pm.power(2.0, (pitch - 69.0) / 12.0)
        note = _note(rng, sample_rate, f0, rng.uniform(0.3, 1.0), rng.uniform(2.5, 5.0), rng.uniform(0.05, 0.3), length)
        _add(take, note, start)
    return _finish(take, sample_rate, GUITAR_BAND_HZ)


def render_bass(rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """Bass notes E1..G2 (41..98 Hz), long decays, darker pick and loop filter."""
    return _single_notes(
        rng,
        seconds,
        sample_rate,
        notes=(28, 44),
        gap=(0.25, 1.0),
        strength=(0.2, 1.0),
        t60=(1.5, 5.0),
        damping=(0.2, 0.5),
        tone_hz=BASS_TONE_HZ,
        band_hz=BASS_BAND_HZ,
    )


#: Guitar-like material by config name (``data.synth.guitar.takes.<name>``).
RENDERERS: dict[str, Callable[[np.random.Generator, float, int], np.ndarray]] = {
    "pluck": render_pluck,
    "chord": render_chord,
    "palm_mute": render_palm_mute,
    "slide": render_slide,
    "bass": render_bass,
}
