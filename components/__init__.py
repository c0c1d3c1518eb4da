"""The pipeline's custom parts: IMDB ingestion, text vectorization, the model, the gates."""
