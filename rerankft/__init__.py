"""rerankft: mine hard negatives, fine-tune a cross-encoder reranker, and benchmark it."""

__version__ = "0.1.0"

from rerankft.errors import ConfigError, DataError, ModelError, RerankftError  # noqa: E402

__all__ = ["ConfigError", "DataError", "ModelError", "RerankftError", "__version__"]
