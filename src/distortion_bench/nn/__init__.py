"""Neural models of the effects: streaming TCN and LSTM/GRU, their training and export.

Importing the package registers every model family, the knob-conditioned ones
(:mod:`.conditioned`) included, so :func:`.models.build_model` knows them all.
"""

from distortion_bench.nn import conditioned as _conditioned  # noqa: F401 - registers its families
from distortion_bench.nn import conditioned_shaper as _conditioned_shaper  # noqa: F401 - shaper_knobs
