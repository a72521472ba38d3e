"""Strategy arithmetic, worked by hand: on-prem against cloud, fine-tune against an API."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.errors import QueryError
from aifinops.model import strategy as m
from aifinops.model.gpu_prices import gpu_family, gpu_prices, matching, same_gpu
from aifinops.model.prices import Rates

F = Fraction

# A server of 8 GPUs: 350,400 over 4 years = 10.00 an hour (4 x 8,760 hours); 5 kW x PUE 1.5 x
# 0.20 = 1.50 an hour; 365 a month overhead / 730 hours = 0.50 an hour: 12.00 a server-hour.
SERVER = m.Server(
    gpus=8,
    purchase_price=F(350_400),
    amortisation_years=F(4),
    power_kw=F(5),
    pue=F(3, 2),
    electricity_per_kwh=F(1, 5),
    overhead_per_month=F(365),
)
# 20 GPUs at the peak, half their hours used, over 2 years (17,520 hours): 10 GPUs busy on average.
DEMAND = m.Demand(gpus=20, utilisation=F(1, 2), years=F(2))


def test_server_rate_by_component() -> None:
    rate = SERVER.rate()
    assert (rate.amortisation, rate.energy, rate.overhead) == (F(10), F(3, 2), F(1, 2))
    assert rate.per_server_hour == 12
    assert rate.per_gpu_hour == F(3, 2)


def test_onprem_owns_whole_servers_for_the_peak() -> None:
    onprem = m.onprem_option(DEMAND, SERVER.rate())
    assert onprem.servers == 3  # ceil(20 / 8)
    assert onprem.gpus_paid == 24
    assert onprem.per_hour == 36  # 3 x 12.00, used or not
    assert onprem.monthly() == 26_280  # 36 x 730
    assert onprem.total(DEMAND) == 630_720  # 36 x 17,520
    assert onprem.per_used_gpu_hour(DEMAND) == F(36, 10)  # 10 GPUs busy on average
    assert onprem.break_even is None


def test_pay_per_use_break_even() -> None:
    # On-demand at 4.00: 10 busy GPUs cost 40 an hour. On-prem (36 an hour) is cheaper when
    # 36 < 20 x u x 4, above u = 36 / 80 = 45%.
    offer = m.Offer("cloud on-demand", F(4), m.Billing.PER_USE)
    cloud = m.cloud_option(DEMAND, offer, F(36))
    assert cloud.gpus_paid == 10
    assert cloud.per_hour == 40
    assert cloud.total(DEMAND) == 700_800
    assert cloud.per_used_gpu_hour(DEMAND) == 4
    assert cloud.break_even == m.BreakEven(m.Cheaper.ABOVE, F(45, 100))
    assert cloud.owed_after_horizon == 0


def test_never_cheaper_than_a_low_spot_price() -> None:
    # Spot at 1.50: even all 20 GPUs busy cost 30 an hour, less than 36: 36 / 30 = 120%.
    offer = m.Offer("cloud spot", F(3, 2), m.Billing.PER_USE)
    assert m.break_even(F(36), 20, offer) == m.BreakEven(m.Cheaper.NEVER, F(6, 5))
    # exactly 100%: equal at full use, never cheaper
    assert m.break_even(F(36), 20, m.Offer("x", F(9, 5), m.Billing.PER_USE)).cheaper == (
        m.Cheaper.NEVER
    )


def test_held_commitments_do_not_depend_on_utilisation() -> None:
    # 1 year at 37% off 4.00 = 2.52; 20 GPUs held = 50.40 an hour > 36: on-prem always cheaper.
    one = m.Offer("committed 1y", F(4) * F(63, 100), m.Billing.HELD, F(1))
    held = m.cloud_option(DEMAND, one, F(36))
    assert held.per_hour == F(5040, 100)
    assert held.per_used_gpu_hour(DEMAND) == F(504, 100)
    assert held.break_even == m.BreakEven(m.Cheaper.ANY)
    assert held.owed_after_horizon == 0  # two 1-year terms fit 2 years
    # 3 years at 55% off = 1.80; 20 GPUs = 36.00 an hour, equal to on-prem: never cheaper. The
    # 3-year term outlasts the 2-year horizon: 1 more year owed = 8,760 x 20 x 1.80.
    three = m.Offer("committed 3y", F(18, 10), m.Billing.HELD, F(3))
    held = m.cloud_option(DEMAND, three, F(36))
    assert held.break_even == m.BreakEven(m.Cheaper.NEVER)
    assert held.owed_after_horizon == 315_360


def test_unknown_price_is_unknown_not_zero() -> None:
    spot = m.cloud_option(DEMAND, m.Offer("cloud spot", None, m.Billing.PER_USE), F(36))
    assert spot.per_hour is None and spot.monthly() is None and spot.total(DEMAND) is None
    assert spot.break_even == m.BreakEven(m.Cheaper.UNKNOWN)
    with pytest.raises(QueryError, match="> 0"):
        m.Offer("free", F(0), m.Billing.PER_USE)


def test_free_onprem_is_cheaper_at_any_utilisation() -> None:
    offer = m.Offer("cloud on-demand", F(4), m.Billing.PER_USE)
    assert m.break_even(F(0), 20, offer) == m.BreakEven(m.Cheaper.ANY, F(0))


def test_demand_profiles() -> None:
    assert m.Demand.from_average(20, F(5), F(1)).utilisation == F(1, 4)
    # 12 hours a day on 5 days of 7: 60 of 168 hours
    assert m.Demand.from_schedule(8, F(12), F(5), F(1)).utilisation == F(5, 14)
    assert DEMAND.hours == 17_520 and DEMAND.used_gpu_hours == 175_200


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: m.Demand(0, F(1, 2), F(1)), "--gpus"),
        (lambda: m.Demand(4, F(0), F(1)), "utilisation"),
        (lambda: m.Demand(4, F(3, 2), F(1)), "utilisation"),
        (lambda: m.Demand(4, F(1, 2), F(0)), "--years"),
        (lambda: m.Demand.from_average(4, F(5), F(1)), "more than --gpus 4"),
        (lambda: m.Demand.from_schedule(4, F(25), F(7), F(1)), "--hours-per-day"),
        (lambda: m.Demand.from_schedule(4, F(8), F(8), F(1)), "--days-per-week"),
        (lambda: m.Server(8, F(1), F(4), F(1), F(1, 2), F(1), F(0)), "--pue"),
        (lambda: m.Server(8, F(1), F(0), F(1), F(1), F(1), F(0)), "--amortisation-years"),
    ],
)
def test_bad_inputs_are_refused(build: object, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        build()  # type: ignore[operator]


# -- fine-tune vs API ----------------------------------------------------------------------------

RATES = Rates(
    input=Decimal(2), cache_read=Decimal("0.5"), cache_write_5m=Decimal(2),
    cache_write_1h=Decimal(2), output=Decimal(8), reasoning=Decimal(8),
)  # fmt: skip


def test_api_cost_per_request() -> None:
    # 2,000 uncached x 2 + 1,000 cached x 0.5 + 500 output x 8, per million
    shape = m.RequestShape(input_tokens=3000, output_tokens=500, cached_tokens=1000)
    assert m.api_cost_per_request(RATES, shape) == F(85, 10_000)
    with pytest.raises(QueryError, match="more than --input-tokens"):
        m.RequestShape(input_tokens=10, output_tokens=1, cached_tokens=11)
    with pytest.raises(QueryError, match="needs tokens"):
        m.RequestShape(input_tokens=0, output_tokens=0)


def _case(
    training: int, replica_monthly: Fraction, per_month: Fraction, api: Fraction, minimum: int = 1
) -> m.FineTuneCase:
    """A case by monthly figures: a replica costs ``replica_monthly`` (1 GPU at that / 730 an
    hour) and serves ``per_month`` requests (that / 730 an hour); training over 1 month."""
    serving = m.ServingPlan(1, replica_monthly / 730, per_month / 730, minimum)
    return m.FineTuneCase(F(training), F(1), serving, api)


def test_break_even_by_hand() -> None:
    # Training 1,200 over 12 months = 100 a month; a replica of 1 GPU at 2.00 = 1,460 a month and
    # serves 1,000 requests an hour = 730,000 a month; the API costs 0.0085 a request. Break-even:
    # (100 + 1,460) / 0.0085 = 3,120,000 / 17 = 183,529.41... requests a month, inside the first
    # replica's capacity; a full replica's requests cost 6,205 on the API > 1,460, so it stays.
    serving = m.ServingPlan(1, F(2), F(1000))
    case = m.FineTuneCase(F(1200), F(12), serving, F(85, 10_000))
    assert serving.replica_monthly == 1460 and serving.requests_per_replica_month == 730_000
    found = m.volume_break_even(case)
    assert found.first == m.Bound(F(3_120_000, 17), included=True)
    assert found.first.whole() == 183_530
    assert found.stays_from == found.first
    assert case.self_hosted_monthly(F(183_530)) <= case.api_monthly(F(183_530))
    assert case.self_hosted_monthly(F(183_529)) > case.api_monthly(F(183_529))


def test_capacity_steps_make_bands() -> None:
    # No training; a replica costs 100 a month and serves 100 requests; the API 1.50 a request.
    # Self-hosting is no dearer from 100 / 1.5 = 66.67 up to 100; at 101 a second replica (200)
    # costs more than the API (151.50) until 200 / 1.5 = 133.33; from there on it stays cheaper
    # (3 replicas = 300 <= 1.5 x 200 at the next step's start).
    case = _case(0, F(100), F(100), F(3, 2))
    assert case.serving.replicas(F(100)) == 1 and case.serving.replicas(F(101)) == 2
    assert case.self_hosted_monthly(F(101)) == 200
    found = m.volume_break_even(case)
    assert found.first == m.Bound(F(200, 3), included=True)
    assert found.stays_from == m.Bound(F(400, 3), included=True)
    assert (found.first.whole(), found.stays_from.whole()) == (67, 134)


def test_minimum_replicas_are_paid_from_the_first_request() -> None:
    case = _case(0, F(100), F(100), F(3, 2), minimum=2)
    assert case.self_hosted_monthly(F(1)) == 200
    found = m.volume_break_even(case)
    assert found.first == found.stays_from == m.Bound(F(400, 3), included=True)


def test_never_breaks_even() -> None:
    # A replica (100 a month) serves 50 requests that cost 75 on the API: never worth it.
    found = m.volume_break_even(_case(10, F(100), F(50), F(3, 2)))
    assert found == m.VolumeBreakEven(None, None)
    assert m.volume_break_even(_case(0, F(100), F(50), F(0))) == m.VolumeBreakEven(None, None)


def test_equal_at_full_capacity_only() -> None:
    # A full replica's requests cost exactly the replica on the API: equal at 100, dearer after.
    found = m.volume_break_even(_case(0, F(100), F(100), F(1)))
    assert found == m.VolumeBreakEven(m.Bound(F(100), included=True), None)


def test_a_step_that_is_cheaper_from_its_start() -> None:
    # Training 50; replica 100 for 100 requests; API 2.00: step 1 from 75; at 100+ two replicas
    # (250) vs 200+: dearer until 125; from 3 replicas (350 <= 2 x 200) every step is wholly
    # cheaper, and step 2 from 125: stays from 125.
    found = m.volume_break_even(_case(50, F(100), F(100), F(2)))
    assert found.first == m.Bound(F(75), included=True)
    assert found.stays_from == m.Bound(F(125), included=True)
    # Training 190: step 1 would need (190 + 100) / 2 = 145 > 100 requests; step 2 is no dearer
    # from (190 + 200) / 2 = 195 to 200; step 3 only from (190 + 300) / 2 = 245; step 4 and on
    # wholly (190 + 400 <= 2 x 300): stays from 245.
    found = m.volume_break_even(_case(190, F(100), F(100), F(2)))
    assert found.first == m.Bound(F(195), included=True)
    assert found.stays_from == m.Bound(F(245), included=True)


def test_cheap_replicas_stay_cheaper() -> None:
    # Replica 100 for 100 requests, API 10.00, training 0: step 1 from 10; wholly cheaper steps
    # from 2 on (start of step 2: 200 <= 10 x 100): stays from 10 too.
    found = m.volume_break_even(_case(0, F(100), F(100), F(10)))
    assert found.first == found.stays_from == m.Bound(F(10), included=True)
    # a bound that is not part of its range: the first whole request above it
    assert m.Bound(F(100), included=False).whole() == 101
    assert m.Bound(F(100), included=True).whole() == 100


def _cheaper(case: m.FineTuneCase, volume: Fraction) -> bool:
    return case.self_hosted_monthly(volume) <= case.api_monthly(volume)


@settings(max_examples=150, deadline=None)
@given(
    training=st.integers(0, 60),
    replica=st.integers(1, 40),
    capacity=st.integers(1, 12),
    api_tenths=st.integers(1, 80),
    minimum=st.integers(1, 3),
)
def test_break_even_matches_a_scan(
    training: int, replica: int, capacity: int, api_tenths: int, minimum: int
) -> None:
    case = _case(training, F(replica), F(capacity), F(api_tenths, 10), minimum)
    found = m.volume_break_even(case)
    eps = F(1, 10**6)
    grid = [F(j, 4) for j in range(1, 4 * capacity * (minimum + 40))]
    cheaper = [v for v in grid if _cheaper(case, v)]
    if found.first is None:
        assert not cheaper
        assert found.stays_from is None
        return
    first = found.first
    assert all(v > first.volume or (first.included and v == first.volume) for v in cheaper)
    assert _cheaper(case, first.volume) == first.included or first.volume == 0
    if first.volume > eps:
        assert not _cheaper(case, first.volume - eps)
    stays = found.stays_from
    if stays is None:  # dearer again above some volume, beyond every later step too
        assert any(not _cheaper(case, v) for v in grid if v > first.volume)
        return
    assert all(_cheaper(case, v) for v in grid if v > stays.volume)
    assert _cheaper(case, stays.volume) == stays.included
    assert not _cheaper(case, stays.volume - eps) or stays.volume - eps < first.volume


def test_serving_plan_validation() -> None:
    with pytest.raises(QueryError, match="--serving-gpus"):
        m.ServingPlan(0, F(1), F(1))
    with pytest.raises(QueryError, match="--peak-factor"):
        m.ServingPlan(1, F(1), F(1), peak_factor=F(1, 2))
    with pytest.raises(QueryError, match="--min-replicas"):
        m.ServingPlan(1, F(1), F(1), min_replicas=0)
    # a peak twice the average halves what a replica serves a month
    assert m.ServingPlan(1, F(1), F(10), peak_factor=F(2)).requests_per_replica_month == 3650


def test_volume_grid_and_rounding() -> None:
    assert m.volume_grid(F(183_530), [183_530, 338_664]) == [
        20_000, 50_000, 100_000, 183_530, 200_000, 338_664, 500_000, 1_000_000,
    ]  # fmt: skip
    assert m.volume_grid(F(3), []) == [1, 2, 5, 10, 20]  # a tenth to ten times 3
    assert m.rounded(F(5, 1000), 2) == Decimal("0.00")  # half to even
    assert m.rounded(F(15, 1000), 2) == Decimal("0.02")
    assert m.rounded(F(1, 3), 6) == Decimal("0.333333")


# -- the cloud price list -------------------------------------------------------------------------


def test_gpu_names_match_by_family_or_exactly() -> None:
    names = ["H100", "H100-80GB", "H100-80GB (Mega)", "A100-40GB", "A100-80GB", "A100"]
    assert same_gpu("H100", names) == {"H100", "H100-80GB", "H100-80GB (Mega)"}
    assert same_gpu("h100", names) == {"H100", "H100-80GB", "H100-80GB (Mega)"}
    assert same_gpu("A100-80GB", names) == {"A100-80GB"}
    assert same_gpu("H100-SXM5-80GB", names) == {"H100", "H100-80GB", "H100-80GB (Mega)"}
    assert same_gpu("B200", names) == set()
    assert gpu_family("A10 (1/6)") == "A10"


def test_price_list_rows() -> None:
    p5 = next(p for p in gpu_prices() if p.instance_type == "p5.48xlarge")
    assert (p5.cloud, p5.region, p5.gpu_count, p5.on_demand) == (
        "aws", "us-east-1", Decimal(8), Decimal("55.04"),
    )  # fmt: skip
    assert p5.on_demand_per_gpu_hour == Decimal("6.88")
    assert p5.spot is None and p5.spot_per_gpu_hour is None  # unknown, not zero
    assert all(p.on_demand is None or p.on_demand > 0 for p in gpu_prices())
    assert all(p.spot is None or p.spot > 0 for p in gpu_prices())
    assert not any(p.instance_type.startswith("(attached GPU)") for p in gpu_prices())
    # fractional Azure A10 shares are no whole GPU
    assert all(p.gpu_count >= 1 for p in matching("A10"))
    assert {p.cloud for p in matching("H100")} == {"aws", "azure", "gcp"}
