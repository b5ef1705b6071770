"""Close the loop: rate a generation by its id, then read the feedback summary.

Your application judges the answer (here: a length check stands in for a user's thumbs), submits 1
or -1 with a comment and tags, and the router learns which models serve your traffic well.

    python examples/feedback.py
"""

import os
import sys

from nexevo import Nexevo

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")
MAX_WORDS = 60


def main() -> int:
    with Nexevo() as client:
        response = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Explain a spend cap in one sentence."}]
        )
        generation_id = response["nexevo"]["generation_id"]
        answer = response["choices"][0]["message"]["content"] or ""
        print(f"generation {generation_id} by {response['nexevo']['model']}: {answer}")

        concise = 0 < len(answer.split()) <= MAX_WORDS
        submitted = client.feedback.submit(
            generation_id=generation_id,
            rating=1 if concise else -1,
            comment="Short and to the point." if concise else "Too long for a one-sentence question.",
            tags=["accurate"] if concise else ["too_verbose"],
        )
        print(f"rated {submitted['rating']:+d} with tags {submitted['tags']}")

        summary = client.feedback.summary(days=7)
    print(
        f"last 7 days: {summary['positive']} up, {summary['negative']} down, "
        f"positive rate {summary['positive_rate']}"
    )
    return 0 if summary["total"] >= 1 and submitted["generation_id"] == generation_id else 1


if __name__ == "__main__":
    sys.exit(main())
