"""Builds ``gateway/catalog/catalog.json``, the catalog of providers and models the console ships,
from the table of public list prices, context windows and capabilities that the ``litellm`` package
keeps (``model_prices_and_context_window_backup.json``, inside its wheel).

To refresh the prices and limits::

    .venv/bin/python -m pip download litellm --no-deps -d /tmp/litellm
    .venv/bin/python -m gateway.catalog.build /tmp/litellm/litellm-*.whl
    git diff gateway/catalog/catalog.json   # read what changed before committing it

Which models are shipped, under which public id, served by which provider, is decided here
(``PROVIDERS`` and ``MODELS``); the facts about each come from litellm's table. A model that has
left the table stops the build rather than shipping stale facts: take it out of ``MODELS`` or map it
to its successor.

Prices in the table are US dollars per token; the catalog holds them per million tokens as decimal
strings (read as ``Decimal``, never as a float). Capabilities map from litellm's flags: ``tools`` from
``supports_function_calling``, ``vision`` from ``supports_vision``, ``json_mode`` from
``supports_response_schema`` (structured output) and ``reasoning`` from ``supports_reasoning``.
"""

import argparse
import json
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

TABLE_NAME = "litellm/model_prices_and_context_window_backup.json"
OUTPUT = Path(__file__).with_name("catalog.json")
MILLION = Decimal(1_000_000)
PLACES = Decimal("0.000001")

# id, display name, OpenAI-compatible base URL, region, the environment variable holding its key.
PROVIDERS = [
    ("openai", "OpenAI", "https://api.openai.com/v1", "overseas", "OPENAI_API_KEY"),
    ("anthropic", "Anthropic", "https://api.anthropic.com/v1", "overseas", "ANTHROPIC_API_KEY"),
    (
        "google",
        "Google AI Studio",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "overseas",
        "GEMINI_API_KEY",
    ),
    ("mistral", "Mistral AI", "https://api.mistral.ai/v1", "overseas", "MISTRAL_API_KEY"),
    ("xai", "xAI", "https://api.x.ai/v1", "overseas", "XAI_API_KEY"),
    ("together", "Together AI", "https://api.together.xyz/v1", "overseas", "TOGETHER_API_KEY"),
    ("groq", "Groq", "https://api.groq.com/openai/v1", "overseas", "GROQ_API_KEY"),
    ("deepseek", "DeepSeek", "https://api.deepseek.com/v1", "cn", "DEEPSEEK_API_KEY"),
    (
        "alibaba",
        "Alibaba Cloud Model Studio",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "cn",
        "DASHSCOPE_API_KEY",
    ),
    ("moonshot", "Moonshot AI", "https://api.moonshot.cn/v1", "cn", "MOONSHOT_API_KEY"),
    ("zhipu", "Zhipu AI", "https://open.bigmodel.cn/api/paas/v4", "cn", "ZHIPU_API_KEY"),
    ("minimax", "MiniMax", "https://api.minimaxi.com/v1", "cn", "MINIMAX_API_KEY"),
    ("volcengine", "Volcano Engine Ark", "https://ark.cn-beijing.volces.com/api/v3", "cn", "ARK_API_KEY"),
]

# litellm's key, our public id (maker/model), the provider serving it, the display name.
MODELS = [
    ("gpt-4o", "openai/gpt-4o", "openai", "GPT-4o"),
    ("gpt-4o-mini", "openai/gpt-4o-mini", "openai", "GPT-4o mini"),
    ("gpt-4.1", "openai/gpt-4.1", "openai", "GPT-4.1"),
    ("gpt-4.1-mini", "openai/gpt-4.1-mini", "openai", "GPT-4.1 mini"),
    ("gpt-4.1-nano", "openai/gpt-4.1-nano", "openai", "GPT-4.1 nano"),
    ("gpt-5", "openai/gpt-5", "openai", "GPT-5"),
    ("gpt-5-mini", "openai/gpt-5-mini", "openai", "GPT-5 mini"),
    ("gpt-5-nano", "openai/gpt-5-nano", "openai", "GPT-5 nano"),
    ("o1", "openai/o1", "openai", "o1"),
    ("o3", "openai/o3", "openai", "o3"),
    ("o3-mini", "openai/o3-mini", "openai", "o3-mini"),
    ("o4-mini", "openai/o4-mini", "openai", "o4-mini"),
    ("claude-haiku-4-5", "anthropic/claude-haiku-4-5", "anthropic", "Claude Haiku 4.5"),
    ("claude-sonnet-4-5", "anthropic/claude-sonnet-4-5", "anthropic", "Claude Sonnet 4.5"),
    ("claude-sonnet-4-6", "anthropic/claude-sonnet-4-6", "anthropic", "Claude Sonnet 4.6"),
    ("claude-opus-4-5", "anthropic/claude-opus-4-5", "anthropic", "Claude Opus 4.5"),
    ("claude-opus-4-6", "anthropic/claude-opus-4-6", "anthropic", "Claude Opus 4.6"),
    ("gemini/gemini-2.5-pro", "google/gemini-2.5-pro", "google", "Gemini 2.5 Pro"),
    ("gemini/gemini-2.5-flash", "google/gemini-2.5-flash", "google", "Gemini 2.5 Flash"),
    ("gemini/gemini-2.5-flash-lite", "google/gemini-2.5-flash-lite", "google", "Gemini 2.5 Flash-Lite"),
    ("gemini/gemini-3-flash-preview", "google/gemini-3-flash-preview", "google", "Gemini 3 Flash (preview)"),
    ("gemini/gemini-3.1-pro-preview", "google/gemini-3.1-pro-preview", "google", "Gemini 3.1 Pro (preview)"),
    ("gemini/gemma-3-27b-it", "google/gemma-3-27b-it", "google", "Gemma 3 27B"),
    ("mistral/mistral-large-latest", "mistral/mistral-large", "mistral", "Mistral Large"),
    ("mistral/mistral-medium-latest", "mistral/mistral-medium", "mistral", "Mistral Medium"),
    ("mistral/mistral-small-latest", "mistral/mistral-small", "mistral", "Mistral Small"),
    ("mistral/codestral-latest", "mistral/codestral", "mistral", "Codestral"),
    ("mistral/magistral-medium-latest", "mistral/magistral-medium", "mistral", "Magistral Medium"),
    ("mistral/ministral-8b-latest", "mistral/ministral-8b", "mistral", "Ministral 8B"),
    ("mistral/open-mistral-nemo", "mistral/mistral-nemo", "mistral", "Mistral NeMo"),
    ("mistral/pixtral-large-latest", "mistral/pixtral-large", "mistral", "Pixtral Large"),
    ("xai/grok-4.3", "xai/grok-4.3", "xai", "Grok 4.3"),
    ("xai/grok-4.20-reasoning", "xai/grok-4.20-reasoning", "xai", "Grok 4.20 Reasoning"),
    ("xai/grok-code-fast-1", "xai/grok-code-fast-1", "xai", "Grok Code Fast 1"),
    (
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "meta/llama-3.3-70b-instruct",
        "together",
        "Llama 3.3 70B Instruct",
    ),
    (
        "together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
        "meta/llama-3.1-8b-instruct",
        "together",
        "Llama 3.1 8B Instruct",
    ),
    (
        "together_ai/meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
        "meta/llama-3.1-70b-instruct",
        "together",
        "Llama 3.1 70B Instruct",
    ),
    (
        "together_ai/meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "meta/llama-4-scout",
        "together",
        "Llama 4 Scout",
    ),
    ("groq/openai/gpt-oss-120b", "openai/gpt-oss-120b", "groq", "gpt-oss-120b"),
    ("groq/openai/gpt-oss-20b", "openai/gpt-oss-20b", "groq", "gpt-oss-20b"),
    ("deepseek/deepseek-chat", "deepseek/deepseek-chat", "deepseek", "DeepSeek Chat"),
    ("deepseek/deepseek-reasoner", "deepseek/deepseek-reasoner", "deepseek", "DeepSeek Reasoner"),
    ("deepseek/deepseek-v4-flash", "deepseek/deepseek-v4-flash", "deepseek", "DeepSeek V4 Flash"),
    ("deepseek/deepseek-v4-pro", "deepseek/deepseek-v4-pro", "deepseek", "DeepSeek V4 Pro"),
    ("dashscope/qwen-max", "qwen/qwen-max", "alibaba", "Qwen Max"),
    ("dashscope/qwen-plus", "qwen/qwen-plus", "alibaba", "Qwen Plus"),
    ("dashscope/qwen-turbo", "qwen/qwen-turbo", "alibaba", "Qwen Turbo"),
    ("dashscope/qwen-coder", "qwen/qwen-coder", "alibaba", "Qwen Coder"),
    ("dashscope/qwq-plus", "qwen/qwq-plus", "alibaba", "QwQ Plus"),
    (
        "dashscope/qwen3-vl-235b-a22b-instruct",
        "qwen/qwen3-vl-235b-a22b-instruct",
        "alibaba",
        "Qwen3 VL 235B A22B Instruct",
    ),
    (
        "dashscope/qwen3-next-80b-a3b-instruct",
        "qwen/qwen3-next-80b-a3b-instruct",
        "alibaba",
        "Qwen3 Next 80B A3B Instruct",
    ),
    (
        "dashscope/qwen3-next-80b-a3b-thinking",
        "qwen/qwen3-next-80b-a3b-thinking",
        "alibaba",
        "Qwen3 Next 80B A3B Thinking",
    ),
    ("moonshot/moonshot-v1-8k", "moonshot/moonshot-v1-8k", "moonshot", "Moonshot v1 8K"),
    ("moonshot/moonshot-v1-32k", "moonshot/moonshot-v1-32k", "moonshot", "Moonshot v1 32K"),
    ("moonshot/moonshot-v1-128k", "moonshot/moonshot-v1-128k", "moonshot", "Moonshot v1 128K"),
    (
        "moonshot/moonshot-v1-8k-vision-preview",
        "moonshot/moonshot-v1-8k-vision-preview",
        "moonshot",
        "Moonshot v1 8K Vision (preview)",
    ),
    ("moonshot/kimi-k2.5", "moonshot/kimi-k2.5", "moonshot", "Kimi K2.5"),
    ("moonshot/kimi-k2.6", "moonshot/kimi-k2.6", "moonshot", "Kimi K2.6"),
    ("zai/glm-4.5", "zhipu/glm-4.5", "zhipu", "GLM-4.5"),
    ("zai/glm-4.5-air", "zhipu/glm-4.5-air", "zhipu", "GLM-4.5-Air"),
    ("zai/glm-4.5-flash", "zhipu/glm-4.5-flash", "zhipu", "GLM-4.5-Flash"),
    ("zai/glm-4.5v", "zhipu/glm-4.5v", "zhipu", "GLM-4.5V"),
    ("zai/glm-4.6", "zhipu/glm-4.6", "zhipu", "GLM-4.6"),
    ("zai/glm-4.7", "zhipu/glm-4.7", "zhipu", "GLM-4.7"),
    ("zai/glm-5", "zhipu/glm-5", "zhipu", "GLM-5"),
    ("minimax/MiniMax-M2", "minimax/minimax-m2", "minimax", "MiniMax-M2"),
    ("minimax/MiniMax-M2.1", "minimax/minimax-m2.1", "minimax", "MiniMax-M2.1"),
    ("minimax/MiniMax-M2.5", "minimax/minimax-m2.5", "minimax", "MiniMax-M2.5"),
    (
        "volcengine/doubao-seed-2-1-pro-260628",
        "bytedance/doubao-seed-2.1-pro",
        "volcengine",
        "Doubao Seed 2.1 Pro",
    ),
    (
        "volcengine/doubao-seed-2-1-turbo-260628",
        "bytedance/doubao-seed-2.1-turbo",
        "volcengine",
        "Doubao Seed 2.1 Turbo",
    ),
    (
        "volcengine/doubao-seed-2-1-lite-260915",
        "bytedance/doubao-seed-2.1-lite",
        "volcengine",
        "Doubao Seed 2.1 Lite",
    ),
]

# The candidates of the two pools on a fresh install: cheap and quick, then capable, in both regions.
POOLS = {
    "fast": [
        "openai/gpt-4o-mini",
        "google/gemini-2.5-flash-lite",
        "deepseek/deepseek-chat",
        "qwen/qwen-turbo",
    ],
    "balanced": [
        "openai/gpt-4.1",
        "anthropic/claude-sonnet-4-5",
        "deepseek/deepseek-v4-flash",
        "qwen/qwen-plus",
    ],
}

# Providers whose litellm key carries a routing prefix that is not part of the upstream model name.
_PREFIXES = (
    "gemini/",
    "mistral/",
    "xai/",
    "together_ai/",
    "groq/",
    "deepseek/",
    "dashscope/",
    "moonshot/",
    "zai/",
    "minimax/",
    "volcengine/",
)


def read_table(source: Path) -> dict:
    """litellm's table from its wheel or from the JSON file itself, with every number as a Decimal."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            raw = wheel.read(TABLE_NAME)
    else:
        raw = source.read_bytes()
    return json.loads(raw, parse_float=Decimal)


def per_million(per_token) -> str:
    amount = (Decimal(per_token) * MILLION).quantize(PLACES)
    text = format(amount.normalize(), "f")
    return text if "." in text else f"{text}.00"


def upstream_name(litellm_key: str) -> str:
    for prefix in _PREFIXES:
        if litellm_key.startswith(prefix):
            return litellm_key[len(prefix) :]
    return litellm_key


def model_entry(table: dict, litellm_key: str, public_id: str, provider: str, name: str) -> dict:
    facts = table.get(litellm_key)
    if facts is None:
        raise SystemExit(f"{litellm_key} is no longer in litellm's table: update MODELS.")
    missing = [field for field in ("input_cost_per_token", "output_cost_per_token") if field not in facts]
    if missing:
        raise SystemExit(f"{litellm_key} has no {', '.join(missing)} in litellm's table.")
    context = facts.get("max_input_tokens") or facts.get("max_tokens")
    return {
        "id": public_id,
        "name": name,
        "provider": provider,
        "upstream_name": upstream_name(litellm_key),
        "input_per_million_usd": per_million(facts["input_cost_per_token"]),
        "output_per_million_usd": per_million(facts["output_cost_per_token"]),
        "context_length": int(context),
        "max_output_tokens": int(facts["max_output_tokens"]) if facts.get("max_output_tokens") else None,
        "capabilities": {
            "tools": bool(facts.get("supports_function_calling")),
            "vision": bool(facts.get("supports_vision")),
            "json_mode": bool(facts.get("supports_response_schema")),
            "reasoning": bool(facts.get("supports_reasoning")),
        },
    }


def build(table: dict, source_name: str) -> dict:
    return {
        "source": f"Public list prices, context windows and capabilities from {source_name} "
        "(litellm's model_prices_and_context_window_backup.json); built by gateway/catalog/build.py.",
        "providers": [
            {"id": id_, "name": name, "base_url": base_url, "region": region, "api_key_env": env}
            for id_, name, base_url, region, env in PROVIDERS
        ],
        "models": [model_entry(table, *row) for row in MODELS],
        "pools": POOLS,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="litellm's wheel, or its JSON table")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    arguments = parser.parse_args(argv)
    catalog = build(read_table(arguments.source), arguments.source.name)
    arguments.output.write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"{len(catalog['providers'])} providers, {len(catalog['models'])} models → {arguments.output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
