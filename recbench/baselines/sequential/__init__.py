"""Sequential recommenders: the next item from a user's history. Id-based (SASRec, GRU4Rec,
BERT4Rec), text-based (UniSRec, Recformer, SASRec with text or semantic ids) and generative
(TIGER), with the training loop and item codes they share."""
