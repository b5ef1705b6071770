"""Let the model call your function: it asks for a tool, the program runs it and sends the result back.

A full round trip: the first completion answers with `tool_calls`, the program runs each call locally
and appends a `tool` message with its result, and the second completion answers in words.

    python examples/tool_calls.py "What is the weather in Paris?"
"""

import json
import os
import sys

from nexevo import Nexevo

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"}},
            "required": ["city"],
        },
    },
}


def get_weather(city: str) -> dict:
    """Your own code: a weather service, a database, anything. Here, a table."""
    table = {"paris": ("sunny", 21), "berlin": ("cloudy", 14), "shanghai": ("rain", 18)}
    sky, celsius = table.get(city.lower(), ("unknown", None))
    return {"city": city, "sky": sky, "celsius": celsius}


TOOLS = {"get_weather": get_weather}


def main() -> int:
    question = " ".join(sys.argv[1:]) or "What is the weather in Paris?"
    messages = [{"role": "user", "content": question}]
    with Nexevo() as client:
        first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
        reply = first["choices"][0]["message"]
        calls = reply.get("tool_calls") or []
        if not calls:
            print(f"The model answered without calling a tool: {reply.get('content')}")
            return 1

        messages.append(reply)
        for call in calls:
            arguments = json.loads(call["function"]["arguments"])
            result = TOOLS[call["function"]["name"]](**arguments)
            print(f"tool {call['function']['name']}({arguments}) -> {result}")
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})

        second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    answer = second["choices"][0]["message"].get("content")
    print(f"answer: {answer}")
    return 0 if answer else 1


if __name__ == "__main__":
    sys.exit(main())
