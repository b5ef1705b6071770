"""Keep traffic in mainland China: a key with routing policy `cn-only`, and proof of where it went.

The key sees only models served in China (and the pools, which pick among those); a request for an
overseas model is refused, and a pooled request is served by a Chinese provider.

    python examples/cn_only.py
"""

import os
import sys

from nexevo import APIError, Nexevo

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/fast")


def main() -> int:
    with Nexevo() as client:
        created = client.keys.create(name="china traffic", routing_policy="cn-only")
        key_id = created["key"]["key_id"]
        print(f"created key {key_id} with routing policy {created['key']['routing_policy']}")
        overseas = [m["id"] for m in client.models.list()["data"] if m["region"] == "overseas"]

        with Nexevo(api_key=created["full_key"]) as china:
            regions = {m["region"] for m in china.models.list()["data"] if m["region"]}
            print(f"the key sees models in: {', '.join(sorted(regions)) or 'no region'}")

            response = china.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "你好,介绍一下你自己。"}]
            )
            served_by = response["nexevo"]["model"]
            served_region = china.models.retrieve(served_by)["region"]
            print(f"{MODEL} was served by {served_by} ({served_region})")

            refused = None
            if overseas:
                try:
                    china.chat.completions.create(
                        model=overseas[0], messages=[{"role": "user", "content": "Hello"}]
                    )
                except APIError as error:
                    refused = error
                    print(f"{overseas[0]} refused: {error.status_code} {error.code}")
        client.keys.revoke(key_id)  # a demo key; in production keep it and store created["full_key"]

    stayed_in_china = regions <= {"cn"} and served_region == "cn"
    return 0 if stayed_in_china and (refused is not None or not overseas) else 1


if __name__ == "__main__":
    sys.exit(main())
