"""distortion_bench: neural networks vs deterministic DSP for distortion effects.

Measures sound quality and real-time performance of small neural networks (TCN, LSTM/GRU)
against NumPy/Numba DSP references, across model sizes and audio buffer sizes.
"""

__version__ = "0.1.0"
