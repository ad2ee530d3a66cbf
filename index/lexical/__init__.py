"""The BM25 channel: per-language analysis, the bm25s index and its sync, and the word lexicon
that translates a question for it."""
