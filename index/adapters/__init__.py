"""The engines behind the index's protocols (``index/protocols.py``): FAISS for the embedded default,
Milvus for the distributed deployment. Only these modules import an engine's client library."""
