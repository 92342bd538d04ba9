"""The measuring protocol: what a task kind, a task and a model are (their contracts and
capabilities), how items are encoded, pooled, indexed and scored, the metrics, the timing
scenarios and the invariants every figure keeps. It imports nothing else of recbench: every other
wing builds on it."""
