"""The dense channels: the FAISS files of each generation, and language-neutral e5."""
