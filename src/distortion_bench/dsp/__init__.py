"""Deterministic DSP effects (the ground truth), each in a NumPy and a Numba implementation."""

from distortion_bench.dsp.base import Effect
from distortion_bench.dsp.bitcrush import BitcrusherNumba, BitcrusherNumpy, BitcrushState
from distortion_bench.dsp.params import BitcrusherParams, TubeSaturatorParams
from distortion_bench.dsp.registry import IMPLEMENTATIONS, KINDS, build_effect
from distortion_bench.dsp.tube import TubeSaturatorNumba, TubeSaturatorNumpy, TubeState

__all__ = [
    "Effect",
    "BitcrusherNumba",
    "BitcrusherNumpy",
    "BitcrushState",
    "BitcrusherParams",
    "TubeSaturatorParams",
    "TubeSaturatorNumba",
    "TubeSaturatorNumpy",
    "TubeState",
    "IMPLEMENTATIONS",
    "KINDS",
    "build_effect",
]
