"""The benchmark stages: offline (files, buffer-size sweeps) and real time (audio clock)."""
