"""Scoring query/passage pairs: loading rerankers, backends (torch, ONNX), batching, score caches, score fusion."""
