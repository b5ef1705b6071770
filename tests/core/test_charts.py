"""core.charts: round gridlines, thinned date labels, exact values in the tooltips."""

from decimal import Decimal

import pytest

from core.charts import Category, Series, column_chart, compact_number, nice_step

TWO = [Series("a", "A", "series-1"), Series("b", "B", "series-2")]


@pytest.mark.parametrize(
    ("peak", "step"),
    [
        (Decimal("0.37"), Decimal("0.1")),
        (Decimal("1"), Decimal("0.25")),
        (Decimal("7"), Decimal("2")),
        (Decimal("12345"), Decimal("5000")),
        (Decimal("0.000042"), Decimal("0.00002")),
    ],
)
def test_it_picks_a_round_step_giving_two_to_four_parts(peak, step):
    assert nice_step(peak) == step
    assert 1 < peak / step <= 4


def test_counts_never_step_by_fractions():
    assert nice_step(Decimal(3), whole=True) == 1


def test_it_draws_three_to_five_gridlines_with_exact_labels():
    chart = column_chart(
        categories=[Category(str(day), f"day {day}") for day in range(3)],
        series=TWO,
        values=[{"a": Decimal("0.10"), "b": Decimal("0.27")}, {"a": Decimal("0.05")}, {}],
        format_value=lambda value: f"${value}",
    )

    assert [line["label"] for line in chart["gridlines"]] == ["$0", "$0.10", "$0.20", "$0.30", "$0.40"]
    assert chart["columns"][0]["tip"] == (
        '{"title": "day 0", "rows": [["A", "$0.10", "series-1"], ["B", "$0.27", "series-2"]], '
        '"total": ["Total", "$0.37"]}'
    )
    tallest = chart["columns"][0]["segments"]
    assert tallest[-1]["y"] < tallest[0]["y"]  # b is stacked on a


def test_it_labels_at_most_eight_dates_counting_back_from_the_newest():
    chart = column_chart(
        categories=[Category(f"d{day}", f"day {day}") for day in range(90)],
        series=TWO[:1],
        values=[{"a": day} for day in range(90)],
        format_value=str,
        whole=True,
    )

    labels = [label["text"] for label in chart["x_labels"]]
    assert len(labels) <= 8 and labels[-1] == "d89"
    assert chart["legend"] == []  # one series needs no legend


def test_an_empty_chart_says_so_and_still_has_an_axis():
    chart = column_chart(
        categories=[Category("a", "a")], series=TWO, values=[{}], format_value=str, whole=True
    )
    assert chart["empty"] and chart["gridlines"][0]["zero"] and chart["columns"][0]["segments"] == []


def test_compact_numbers():
    assert [compact_number(n) for n in (0, 950, 1000, 1250, 2_500_000, 3 * 10**9)] == [
        "0",
        "950",
        "1k",
        "1.2k",
        "2.5M",
        "3B",
    ]
