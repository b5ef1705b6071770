"""Conversation depth: appending to a conversation of 100,000 messages against one of 10, and reading a
page of messages 50,000 deep against the first page, in the same process on the same database.

    .venv/bin/python bench/conversation_depth.py [--depth 100000] [--rounds 300]

Targets (issue 6): appending at most 1.2x, a deep page at most 1.5x. Uses a throwaway SQLite
database unless DATABASE_URL is set (then it writes to that database: use a scratch one).
"""

import argparse
import statistics
import time

from common import django_setup, prepare_database, server_environment


def median_ms(function, rounds: int) -> float:
    for _ in range(max(5, rounds // 10)):
        function()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=300)
    arguments = parser.parse_args()

    environment = server_environment()
    prepare_database(environment)
    django_setup(environment)
    from accounts.models import User
    from conversations.models import Message
    from conversations.selectors import messages_of
    from conversations.services import conversation_create, message_append
    from core.pagination import _encode_cursor, paginate

    user, _ = User.objects.get_or_create(email=f"bench-{time.time_ns()}@example.com")
    organization = user.memberships.get().organization
    shallow = conversation_create(organization=organization, user=user, title="shallow")
    deep = conversation_create(organization=organization, user=user, title="deep")
    for index in range(10):
        message_append(
            organization=organization, conversation_id=shallow.id, role="user", content=f"m{index}"
        )
    print(f"writing {arguments.depth:,} messages…", flush=True)
    batch = 10_000
    for start in range(0, arguments.depth, batch):
        Message.objects.bulk_create(
            Message(conversation=deep, seq=seq, role="user", content=f"m{seq}")
            for seq in range(start + 1, min(start + batch, arguments.depth) + 1)
        )
    type(deep).objects.filter(pk=deep.pk).update(message_count=arguments.depth)

    def append(conversation):
        return lambda: message_append(
            organization=organization, conversation_id=conversation.id, role="user", content="hello"
        )

    half = arguments.depth // 2
    deep_cursor = _encode_cursor([half])

    def page(conversation, cursor):
        return lambda: list(
            paginate(messages_of(conversation), ordering=("seq",), limit=20, cursor=cursor).items
        )

    append_shallow = median_ms(append(shallow), arguments.rounds)
    append_deep = median_ms(append(deep), arguments.rounds)
    page_first = median_ms(page(deep, None), arguments.rounds)
    page_deep = median_ms(page(deep, deep_cursor), arguments.rounds)
    print(f"{'what':<40}{'median ms':>10}")
    print(f"{'append at depth 10':<40}{append_shallow:>10.3f}")
    print(f"{f'append at depth {arguments.depth:,}':<40}{append_deep:>10.3f}")
    print(f"{'first page of 20':<40}{page_first:>10.3f}")
    print(f"{f'page of 20 at depth {half:,}':<40}{page_deep:>10.3f}")
    append_ratio, page_ratio = append_deep / append_shallow, page_deep / page_first
    print(f"\nappend: {append_ratio:.2f}x (target <= 1.2x) -> {'meets' if append_ratio <= 1.2 else 'misses'}")
    print(f"deep page: {page_ratio:.2f}x (target <= 1.5x) -> {'meets' if page_ratio <= 1.5 else 'misses'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
