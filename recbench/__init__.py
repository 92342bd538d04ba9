"""recbench: a benchmark harness and leaderboard for text recommenders and sentence embeddings."""

__version__ = "0.1.0"
