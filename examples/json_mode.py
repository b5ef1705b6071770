"""Get structured data back: a JSON schema in `response_format`, parsed and checked by the program.

python examples/json_mode.py "Ticket from Lena in Lyon: the export button does nothing"
"""

import json
import os
import sys

from nexevo import Nexevo

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")

TICKET_SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "city": {"type": "string"},
        "category": {"type": "string", "enum": ["bug", "billing", "question"]},
        "urgency": {"type": "integer", "description": "1 (can wait) to 5 (down now)"},
    },
    "required": ["customer", "city", "category", "urgency"],
    "additionalProperties": False,
}


def main() -> int:
    text = " ".join(sys.argv[1:]) or "Ticket from Lena in Lyon: the export button does nothing"
    with Nexevo() as client:
        response = client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Extract the support ticket's fields as JSON."},
                {"role": "user", "content": text},
            ],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "ticket", "schema": TICKET_SCHEMA, "strict": True},
            },
        )
    content = response["choices"][0]["message"]["content"]
    try:
        ticket = json.loads(content)
    except json.JSONDecodeError:
        print(f"The answer is not JSON: {content!r}")
        return 1

    missing = [field for field in TICKET_SCHEMA["required"] if field not in ticket]
    if missing or not isinstance(ticket.get("urgency"), int):
        print(f"The answer does not fit the schema (missing: {missing}): {ticket}")
        return 1
    print(f"ticket: {json.dumps(ticket, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
