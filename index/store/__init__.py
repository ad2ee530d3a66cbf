"""The persistent index: documents, passages and tags in SQLite, the embedding cache, each dense
channel's files, the writer lock, and the context a passage is embedded with."""
