"""The sidecar's own latency histograms: buckets as Prometheus reads them, quantiles as PromQL takes
them, and windows over growing counts."""

from __future__ import annotations

import pytest

from jobpulse.sidecar.latency import INF, Histogram, Window, merged_counts, quantile

BOUNDS = (0.25, 0.5, 1.0, INF)


def test_a_value_on_a_bound_counts_in_that_bucket_as_le_says():
    histogram = Histogram(BOUNDS)
    for value in (0.25, 0.2500001, 1.0, 7.0):
        histogram.observe(value)
    assert histogram.counts == [1, 1, 1, 1]
    assert histogram.cumulative() == [("0.25", 1), ("0.5", 2), ("1.0", 3), ("+Inf", 4)]
    assert histogram.count == 4 and histogram.total == pytest.approx(8.5000001)


def test_the_last_bound_must_be_inf():
    with pytest.raises(ValueError, match=r"\+Inf"):
        Histogram((0.1, 1.0))


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        # The same buckets as alerting/tests/rules_test.yml, where promtool's histogram_quantile agrees.
        ((10, 10, 80, 0), 0.95, 0.96875),
        ((100, 0, 0, 0), 0.95, 0.2375),
        ((0, 0, 0, 5), 0.5, 1.0),  # in the +Inf bucket: the highest finite bound
        ((0, 0, 0, 0), 0.95, None),
    ],
)
def test_quantiles_interpolate_within_their_bucket_like_histogram_quantile(counts, q, expected):
    assert quantile(BOUNDS, counts, q) == (pytest.approx(expected) if expected is not None else None)


def test_a_window_reports_what_grew_over_its_span_and_forgets_what_is_older():
    window = Window(span_ns=10)
    assert window.add(0, (0, 0)) == (0, 0)
    assert window.add(5, (3, 1)) == (3, 1)
    assert window.add(10, (4, 1)) == (4, 1)
    assert window.add(16, (9, 2)) == (6, 1), "from the snapshot at 5, the newest one a span old"
    window.span_ns = 100
    assert window.add(17, (9, 3)) == (6, 2), "a longer span keeps what is still there"


def test_histograms_with_the_same_bounds_merge_by_bucket():
    fast, slow = Histogram(BOUNDS), Histogram(BOUNDS)
    fast.observe(0.1)
    slow.observe(0.9)
    slow.observe(2.0)
    assert merged_counts([fast, slow]) == (1, 0, 1, 1)
    assert merged_counts([]) == ()
