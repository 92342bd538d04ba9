"""Joint scorers: models that read the query and the item together (the cross-encoder), as a
reranker over a first stage or on their own."""
