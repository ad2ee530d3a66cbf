"""housing-kb: multilingual knowledge base and semantic search over housing policy.

The distribution maps the design card's top-level folders into this namespace:
``ingest/`` is ``housing_kb.ingest``, ``index/`` is ``housing_kb.index``, ``api/`` is
``housing_kb.api``, ``prompts/`` is ``housing_kb.prompts`` and ``evaluation/`` is
``housing_kb.evaluation``.
"""

__version__ = "0.1.0"
