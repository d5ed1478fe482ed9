"""One widget per pane; each reads the feed it is given and nothing else."""
