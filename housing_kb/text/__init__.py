"""Text analysis shared by ingest and search: normalisation (folding), sentence ends, and the
gazetteer of countries and regions. It imports neither ``ingest/`` nor ``index/``."""
