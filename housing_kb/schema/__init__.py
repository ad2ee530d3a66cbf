"""What both sides of housing-kb share: the records that flow from ingest into the index, the
controlled vocabularies and their display names, and the SDG housing series.

It imports no other part of housing-kb, so ``ingest/`` and ``index/`` can both build on it while
``index/`` never imports ``ingest/`` (the ruff TID251 rule in ``index/ruff.toml`` enforces it).
"""
