"""Answer a question from your own documents: BM25 retrieval in pure Python, then one chat completion.

No embedding service: the passages are ranked locally with BM25 and the best ones go into the prompt,
so the model answers from them and says which it used.

    python examples/rag.py "How do I stop a key from spending too much?"
"""

import math
import os
import re
import sys
from collections import Counter

from nexevo import Nexevo

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")

# Your knowledge base: in a real application, paragraphs from your own docs, tickets or wiki.
PASSAGES = {
    "spend-caps": "Each API key can carry a monthly spend cap in US dollars. Once the key has spent its cap "
    "in a calendar month, every further request of that key is refused with HTTP 402 until the month ends "
    "or the cap is raised.",
    "alerts": "Spend alerts call your HTTPS webhook when a key crosses 80% and 100% of its cap. Deliveries "
    "are signed with the Standard Webhooks scheme; verify the signature before trusting the body.",
    "routing": "A key's routing policy keeps its traffic in a region: cn-only sends requests only to "
    "providers in mainland China, overseas-only only outside it, and any lets the router choose.",
    "tiers": "The model field picks the price: nexevo/fast and nexevo/balanced are flat-rate pools, a real "
    "model id such as openai/gpt-4o-mini is billed at the provider's list price plus a small markup.",
    "feedback": "Thumbs up or down on a generation, sent with its generation id, feeds the router: models "
    "that answer your traffic well are picked more often.",
}

WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


class BM25:
    """Okapi BM25 over a handful of passages; k1 and b are the usual defaults."""

    def __init__(self, documents: dict[str, str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.terms = {doc_id: Counter(tokenize(text)) for doc_id, text in documents.items()}
        self.lengths = {doc_id: sum(terms.values()) for doc_id, terms in self.terms.items()}
        self.average_length = sum(self.lengths.values()) / len(self.lengths)
        containing = Counter(term for terms in self.terms.values() for term in terms)
        count = len(documents)
        self.idf = {term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in containing.items()}

    def score(self, query: str, doc_id: str) -> float:
        terms, length = self.terms[doc_id], self.lengths[doc_id]
        total = 0.0
        for term in tokenize(query):
            frequency = terms.get(term, 0)
            if frequency:
                norm = self.k1 * (1 - self.b + self.b * length / self.average_length)
                total += self.idf[term] * frequency * (self.k1 + 1) / (frequency + norm)
        return total

    def search(self, query: str, top: int = 2) -> list[tuple[str, float]]:
        ranked = sorted(((doc_id, self.score(query, doc_id)) for doc_id in self.terms), key=lambda x: -x[1])
        return [(doc_id, score) for doc_id, score in ranked[:top] if score > 0]


def main() -> int:
    question = " ".join(sys.argv[1:]) or "How do I stop a key from spending too much?"
    hits = BM25(PASSAGES).search(question)
    if not hits:
        print("No passage matches the question; nothing to answer from.")
        return 1
    for doc_id, score in hits:
        print(f"retrieved {doc_id} (BM25 {score:.2f})")

    context = "\n\n".join(f"[{doc_id}] {PASSAGES[doc_id]}" for doc_id, _ in hits)
    with Nexevo() as client:
        response = client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "system",
                    "content": "Answer only from the passages below and cite their [ids].\n\n" + context,
                },
                {"role": "user", "content": question},
            ],
            max_tokens=300,
        )
    answer = response["choices"][0]["message"]["content"]
    print(f"answer: {answer}")
    print(f"sources: {', '.join(doc_id for doc_id, _ in hits)}")
    print(f"generation {response['nexevo']['generation_id']}, cost ${response['nexevo']['cost_usd']}")
    return 0 if answer else 1


if __name__ == "__main__":
    sys.exit(main())
