"""The data stages: dry corpus, rendered targets, train/val/test datasets."""
