"""The Usage page's chart: daily cost stacked by tier, drawn on the server as SVG geometry."""

from decimal import Decimal

from .models import Tier

WIDTH, HEIGHT, PADDING_LEFT, PADDING_BOTTOM = 720, 220, 56, 24
TIER_COLOURS = {
    Tier.FAST: "#4f46e5",
    Tier.BALANCED: "#0ea5e9",
    Tier.PASSTHROUGH: "#f59e0b",
    Tier.BYOK: "#10b981",
}


def stacked_bars(days: list[dict]) -> dict:
    """Rectangles (x, y, width, height, colour, title) for each day's cost by tier, and the axis."""
    plot_width, plot_height = WIDTH - PADDING_LEFT, HEIGHT - PADDING_BOTTOM
    peak = max((day["cost_usd"] for day in days), default=Decimal(0)) or Decimal(1)
    slot = plot_width / max(len(days), 1)
    bar_width = max(slot * 0.7, 1)
    bars, labels = [], []
    for index, day in enumerate(days):
        x = PADDING_LEFT + index * slot + (slot - bar_width) / 2
        y = plot_height
        for tier in Tier.values:
            cost = day["by_tier"][tier]["cost_usd"]
            if not cost:
                continue
            height = float(cost / peak) * (plot_height - 8)
            y -= height
            bars.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "width": round(bar_width, 1),
                    "height": round(height, 1),
                    "colour": TIER_COLOURS[tier],
                    "title": f"{day['date']:%Y-%m-%d} {tier}: ${cost}",
                }
            )
        if len(days) <= 31 or index % 7 == 0:
            labels.append({"x": round(x + bar_width / 2, 1), "text": f"{day['date']:%m-%d}"})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot_height": plot_height,
        "left": PADDING_LEFT,
        "bars": bars,
        "labels": labels,
        "peak": peak,
        "legend": TIER_COLOURS,
    }
