"""The same calls through the official `openai` package: point its base_url at the console's /v1.

A completion (with the `nexevo` block and the generation id header), a stream with usage, the model
list, and the package's typed errors, all unchanged from code written for OpenAI.

    pip install openai && python examples/openai_package.py
"""

import os
import sys

import openai
from openai import OpenAI

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")
BASE_URL = os.environ.get("NEXEVO_BASE_URL", "http://127.0.0.1:8000").rstrip("/").removesuffix("/v1")


def main() -> int:
    client = OpenAI(api_key=os.environ["NEXEVO_API_KEY"], base_url=f"{BASE_URL}/v1")
    hello = [{"role": "user", "content": "Hello!"}]

    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=hello)
    completion = raw.parse()
    nexevo = completion.model_extra["nexevo"]  # the console's block beside OpenAI's fields
    print(f"completion: {completion.choices[0].message.content}")
    print(f"generation {raw.headers['X-Nexevo-Generation-Id']}: {nexevo['model']}, ${nexevo['cost_usd']}")

    stream = client.chat.completions.create(
        model=MODEL, messages=hello, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    for chunk in stream:
        text += "".join(choice.delta.content or "" for choice in chunk.choices)
        usage = chunk.usage or usage
    print(f"streamed: {text} ({usage.completion_tokens if usage else '?'} tokens)")

    models = [model.id for model in client.models.list()]
    print(f"{len(models)} models, e.g. {', '.join(models[:3])}")

    try:
        client.chat.completions.create(model="no-such/model", messages=hello)
        refused = None
    except openai.BadRequestError as error:
        refused = error
        print(f"unknown model refused: {error.status_code} {error.code}")

    return 0 if completion.choices[0].message.content and text and usage and models and refused else 1


if __name__ == "__main__":
    sys.exit(main())
