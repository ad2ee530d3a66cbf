"""A search: filters and place intent, the engine over its channels, fusion, relevance, hits with
their citations and highlights, and suggestions."""
