"""Ingestion of the IMDB reviews as they ship (aclImdb folders or archives)."""
from components.imdb_example_gen.component import ImdbExampleGen  # noqa: F401
from components.imdb_example_gen.layout import DataLayoutError, locate  # noqa: F401
