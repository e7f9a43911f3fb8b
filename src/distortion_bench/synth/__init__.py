"""Seeded synthesis of dry material: guitar-like takes and measurement signals."""

from distortion_bench.synth.corpus import MATERIAL_KINDS, SynthTake, synthesize_corpus

__all__ = ["MATERIAL_KINDS", "SynthTake", "synthesize_corpus"]
