"""Lexical baselines: scores from the words two texts share (BM25), the baseline that BEIR and
MTEB users compare dense retrieval against."""
