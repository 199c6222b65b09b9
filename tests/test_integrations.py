"""A tuned rerankft model drops unchanged into the RAG stacks people deploy rerankers in.

Each test runs twice: with a cls-head model (tuned from a cross-encoder checkpoint) and with
the offline default's segment_cosine head, whose folder ships its own module file
(``modeling_rerankft.py``) and so needs each stack's ``trust_remote_code=True``, passed the way
that stack takes it. Each test loads the model *folder* (what training writes and what the hub upload holds)
through the stack's own API, checks that it ranks a clearly relevant passage above an
irrelevant one, and that its scores agree with ``rerankft.Reranker.score`` where the stack
exposes scores. The stacks come from the ``integrations`` extra
(``pip install -e ".[integrations]"``); a stack that is not installed is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.rerank_fixtures import (
    relevant_and_irrelevant,
    tuned_model_dir,
    tuned_segment_cosine_model_dir,
)


@pytest.fixture(scope="module", params=["cls", "segment_cosine"])
def tuned(request):
    return tuned_model_dir() if request.param == "cls" else tuned_segment_cosine_model_dir()


@pytest.fixture(scope="module")
def engine(tuned):
    from rerankft import Reranker

    return Reranker(tuned, device="cpu")


@pytest.fixture(scope="module")
def case():
    return relevant_and_irrelevant(0)


def test_rerankft_reranker_and_the_tuned_model_prefer_the_relevant_passage(engine, case):
    q, rel, irr = case
    ranked = engine.rank(q, [irr, rel])
    assert ranked[0]["text"] == rel and ranked[0]["score"] > ranked[1]["score"]
    # Clearly: not a coin flip, on every training topic.
    from tests.rerank_fixtures import TOPICS

    wins = sum(
        engine.score([(q_, pos)])[0] > engine.score([(q_, relevant_and_irrelevant(i)[2])])[0]
        for i, (q_, pos) in enumerate(TOPICS)
    )
    assert wins == len(TOPICS)


def test_sentence_transformers_cross_encoder(tuned, engine, case):
    from sentence_transformers import CrossEncoder

    q, rel, irr = case
    ce = CrossEncoder(tuned, device="cpu", trust_remote_code=True)
    ranked = ce.rank(q, [irr, rel], return_documents=True)
    assert ranked[0]["text"] == rel
    pairs = [(q, irr), (q, rel)]
    assert np.abs(ce.predict(pairs) - engine.score(pairs)).max() < 1e-4


def test_langchain_contextual_compression_retriever(tuned, engine, case):
    pytest.importorskip("langchain_community")
    pytest.importorskip("langchain_classic")
    pytest.importorskip("sklearn")
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_community.retrievers import TFIDFRetriever

    q, rel, irr = case
    cross_encoder = HuggingFaceCrossEncoder(model_name=tuned, model_kwargs={"device": "cpu", "trust_remote_code": True})
    # The first stage returns both passages, the irrelevant one first: the reranker must flip them.
    first_stage = TFIDFRetriever.from_texts([irr, rel], k=2)
    retriever = ContextualCompressionRetriever(
        base_compressor=CrossEncoderReranker(model=cross_encoder, top_n=1), base_retriever=first_stage
    )
    docs = retriever.invoke(q)
    assert [d.page_content for d in docs] == [rel]
    pairs = [(q, irr), (q, rel)]
    assert np.abs(np.asarray(list(cross_encoder.score(pairs))) - engine.score(pairs)).max() < 1e-4


def test_rerankers_library(tuned, engine, case):
    rerankers = pytest.importorskip("rerankers")
    q, rel, irr = case
    ranker = rerankers.Reranker(tuned, model_type="cross-encoder", device="cpu", verbose=0,
                                model_kwargs={"trust_remote_code": True})
    results = ranker.rank(query=q, docs=[irr, rel])
    assert results.top_k(1)[0].text == rel
    # rerankers reports raw logits; sentence-transformers (and rerankft) apply the model's activation:
    # a sigmoid for the cls head, none for segment_cosine (its raw score is the ranking score).
    by_text = {r.text: r.score for r in results.results}
    logits = torch.tensor([by_text[irr], by_text[rel]])
    got = engine.model.activation_fn(logits).numpy()
    assert np.abs(got - engine.score([(q, irr), (q, rel)])).max() < 1e-4


def test_llamaindex_sentence_transformer_rerank(tuned, engine, case):
    pytest.importorskip("llama_index.core")
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    q, rel, irr = case
    rerank = SentenceTransformerRerank(model=tuned, top_n=2, device="cpu")
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in (irr, rel)]
    out = rerank.postprocess_nodes(nodes, query_bundle=QueryBundle(q))
    assert [n.node.get_content() for n in out] == [rel, irr]
    # LlamaIndex loads with max_length=512; these texts are far shorter, so scores are comparable.
    got = np.array([n.score for n in out])
    assert np.abs(got - engine.score([(q, rel), (q, irr)])).max() < 1e-4
