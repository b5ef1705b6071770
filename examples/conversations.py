"""Keep a chat's history on the server: a conversation beside each chat completion.

Each turn appends the user's message, sends the whole history to the model, and appends its answer;
`conversations.get` later restores the chat, and `metadata` finds a user's conversations again.
Appending only stores a message; it never calls a model.

    python examples/conversations.py
"""

import os
import sys

from nexevo import Nexevo

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")
USER_ID = os.environ.get("APP_USER_ID", "user-42")
QUESTIONS = ["My order 1187 has not arrived.", "Can you send it again to the same address?"]


def main() -> int:
    with Nexevo() as client:
        conversation = client.conversations.create(title="Support chat", metadata={"user_id": USER_ID})
        conversation_id = conversation["conversation_id"]
        print(f"conversation {conversation_id}")

        for question in QUESTIONS:
            client.conversations.append_message(conversation_id, role="user", content=question)
            history = client.conversations.get(conversation_id)["messages"]
            response = client.chat.completions.create(
                model=MODEL, messages=[{"role": m["role"], "content": m["content"]} for m in history]
            )
            answer = response["choices"][0]["message"]["content"]
            client.conversations.append_message(conversation_id, role="assistant", content=answer)
            print(f"user: {question}\nassistant: {answer}")

        # Later, maybe in another process: find the user's conversations and restore one.
        mine = client.conversations.list(metadata={"user_id": USER_ID})["data"]
        restored = client.conversations.get(conversation_id)

    roles = [message["role"] for message in restored["messages"]]
    print(f"restored {len(roles)} messages: {' '.join(roles)}")
    found = any(c["conversation_id"] == conversation_id for c in mine)
    return 0 if found and roles == ["user", "assistant"] * len(QUESTIONS) else 1


if __name__ == "__main__":
    sys.exit(main())
