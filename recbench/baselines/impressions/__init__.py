"""News recommenders trained on impressions (NRMS) and their networks."""
