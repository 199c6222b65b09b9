"""First stages: BM25 (bm25s), dense bi-encoder, hybrid rank fusion and precomputed TREC runs, behind one build_retriever."""
