"""Recformer's token types (first token, attribute key, attribute value): shared by the model's
text layout (``recformer.py``) and its network (``_recformer_net.py``) without importing torch."""

CLS_TYPE, KEY_TYPE, VALUE_TYPE = 0, 1, 2
