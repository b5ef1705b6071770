"""Stream a chat completion token by token, with the usage and the cost at the end.

The generation id arrives in a header before the first token; the last chunk carries the `nexevo`
block (tier, model, cost), and `stream_options.include_usage` adds the token counts.

    python examples/streaming.py "Write a haiku about latency"
"""

import os
import sys

from nexevo import Nexevo

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")


def main() -> int:
    prompt = " ".join(sys.argv[1:]) or "Write a haiku about latency"
    text, usage, nexevo_block = [], None, None
    with Nexevo() as client:
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        print(f"generation {stream.generation_id}")
        for chunk in stream:
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or ""
                text.append(piece)
                print(piece, end="", flush=True)
            usage = chunk.get("usage") or usage
            nexevo_block = chunk.get("nexevo") or nexevo_block
    print()

    if not text or usage is None or nexevo_block is None:
        print("The stream ended without text, usage or the nexevo block.")
        return 1
    print(f"tokens: {usage['prompt_tokens']} in, {usage['completion_tokens']} out")
    print(f"model {nexevo_block['model']} ({nexevo_block['tier']}), cost ${nexevo_block['cost_usd']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
