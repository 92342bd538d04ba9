"""Text encoders: one vector (or one vector per token) per text. Word averages (GloVe, SIF),
sentence transformers (SBERT and its sizes, ONNX and int8), fine-tuned bi-encoders, RecoBERT and
ColBERT late interaction."""
