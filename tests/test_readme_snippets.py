"""The README's "Use it in your RAG pipeline" snippets run as written (model path swapped in).

Each Python block is executed with ``path/to/your-tuned-model`` replaced by a small tuned
model, once with a cls head and once with the offline default's segment_cosine head; its printed output must put the relevant passage first. A block whose stack is not
installed (the ``integrations`` extra) is skipped, any other failure fails the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.rerank_fixtures import tuned_model_dir, tuned_segment_cosine_model_dir

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Use it in your RAG pipeline"
PLACEHOLDER = "path/to/your-tuned-model"
OPTIONAL = ("langchain", "langchain_classic", "langchain_community", "rerankers", "llama_index", "sklearn")


def snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md lost its '{SECTION}' section"
    section = text.split(SECTION, 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_section_has_a_snippet_per_stack():
    blocks = "\n".join(snippets())
    for needle in ("from rerankft import Reranker", "CrossEncoder(", "ContextualCompressionRetriever",
                   "model_type=\"cross-encoder\"", "SentenceTransformerRerank"):
        assert needle in blocks, needle


@pytest.mark.parametrize("head", ["cls", "segment_cosine"])
@pytest.mark.parametrize("index", range(len(snippets())))
def test_snippet_runs_and_ranks_the_relevant_passage_first(index, head, capsys):
    code = snippets()[index]
    assert PLACEHOLDER in code
    code = code.replace(PLACEHOLDER, tuned_model_dir() if head == "cls" else tuned_segment_cosine_model_dir())
    try:
        exec(compile(code, f"README.md snippet {index + 1}", "exec"), {"__name__": "__readme__"})
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"{e.name} not installed (pip install -e '.[integrations]')")
        raise
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert lines, "the snippet printed nothing"
    assert "Aircraft wings generate lift" in lines[0]
