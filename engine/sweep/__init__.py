"""Sweeps: a TOML config of conditions x backbones x n trials, scheduled, resumable."""
