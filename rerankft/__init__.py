"""rerankft: mine hard negatives, fine-tune a cross-encoder reranker, and benchmark it."""

__version__ = "0.1.0"

from rerankft.core.errors import ConfigError, DataError, ModelError, RerankftError  # noqa: E402

__all__ = ["ConfigError", "DataError", "ModelError", "Reranker", "RerankftError", "__version__"]


def __getattr__(name):
    # Lazy: `from rerankft import Reranker` loads torch/sentence-transformers only when asked for.
    if name == "Reranker":
        from rerankft.scoring.reranker import Reranker

        return Reranker
    raise AttributeError(f"module 'rerankft' has no attribute {name!r}")
