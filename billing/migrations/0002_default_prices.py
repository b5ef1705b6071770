from decimal import Decimal

from django.db import migrations

PLANS = [
    # id, name, fee, fast in/out, balanced in/out, passthrough markup %, byok fee %, default, position
    ("payg", "Pay as you go", "0", "0.20", "0.60", "1.00", "3.00", "5", "3", True, 0),
    ("pro", "Pro", "49.00", "0.15", "0.45", "0.80", "2.40", "3", "1", False, 1),
    ("scale", "Scale", "499.00", "0.10", "0.30", "0.60", "1.80", "2", "0", False, 2),
]

# List prices per 1M tokens (input, output) of the models the console prices out of the box;
# staff keep them current in Django admin.
MODEL_PRICES = [
    ("openai/gpt-4o-mini", "openai", "overseas", "0.15", "0.60"),
    ("openai/gpt-4o", "openai", "overseas", "2.50", "10.00"),
    ("anthropic/claude-3-5-haiku", "anthropic", "overseas", "0.80", "4.00"),
    ("anthropic/claude-3-5-sonnet", "anthropic", "overseas", "3.00", "15.00"),
    ("google/gemini-1.5-flash", "google", "overseas", "0.075", "0.30"),
    ("deepseek/deepseek-chat", "deepseek", "cn", "0.27", "1.10"),
    ("qwen/qwen-plus", "alibaba", "cn", "0.40", "1.20"),
    ("moonshot/moonshot-v1-8k", "moonshot", "cn", "1.65", "1.65"),
]


def add_prices(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    ModelPrice = apps.get_model("billing", "ModelPrice")
    for plan_id, name, fee, fast_in, fast_out, bal_in, bal_out, markup, byok, default, position in PLANS:
        Plan.objects.update_or_create(id=plan_id, defaults={
            "name": name, "monthly_fee_usd": Decimal(fee),
            "fast_input_per_million_usd": Decimal(fast_in), "fast_output_per_million_usd": Decimal(fast_out),
            "balanced_input_per_million_usd": Decimal(bal_in), "balanced_output_per_million_usd": Decimal(bal_out),
            "passthrough_markup_pct": Decimal(markup), "byok_fee_pct": Decimal(byok),
            "is_default": default, "position": position,
        })
    for model, provider, region, price_in, price_out in MODEL_PRICES:
        ModelPrice.objects.update_or_create(model=model, defaults={
            "provider": provider, "region": region,
            "input_per_million_usd": Decimal(price_in), "output_per_million_usd": Decimal(price_out),
        })


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(add_prices, migrations.RunPython.noop)]
