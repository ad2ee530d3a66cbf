"""Adapters that put housing-kb where users already work: LlamaIndex (``llama_index``) and the Model
Context Protocol (``mcp_server``)."""
