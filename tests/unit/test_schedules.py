from __future__ import annotations

import datetime as dt

import pytest

from app.config import Settings
from app.runtime.cron_schedules import (
    ScheduleError,
    ScheduleStep,
    check_interval,
    new_schedule,
    next_run,
    shortest_interval_minutes,
    static_schedules,
    validate_cron,
)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("cron", ["0 6 * * *", "*/15 * * * *", "0 6 * * mon-fri", " 0  6 * * * "])
def test_valid_cron_is_normalised(cron: str) -> None:
    assert validate_cron(cron) == " ".join(cron.split())


@pytest.mark.parametrize("cron", ["61 * * * *", "0 6 * *", "every day", "* * * * * *", ""])
def test_invalid_cron_names_the_setting(cron: str) -> None:
    with pytest.raises(ScheduleError, match=r"SCHEDULE_BEATPORT_CRON: .* is not a valid 5-field cron"):
        validate_cron(cron, setting="SCHEDULE_BEATPORT_CRON")


def test_static_schedules_from_settings() -> None:
    settings = _settings(
        schedule_beatport_top100_genres="tech-house, 89", schedule_beatport_cron="30 5 * * *"
    )
    schedules = static_schedules(settings)
    assert [s.arguments["target"] for s in schedules] == [
        "/genre/tech-house/11/top-100",
        "/genre/afro-house/89/top-100",
    ]
    assert all(s.cron == "30 5 * * *" and s.source == "settings" for s in schedules)
    # Stable ids: the same settings give the same schedules after a restart.
    assert [s.id for s in static_schedules(settings)] == [s.id for s in schedules]
    # No Spotify credentials: no enrichment schedule even though SCHEDULE_ENRICH_CRON has a default.
    assert all(s.kind == "collect" for s in schedules)


def test_enrich_schedule_when_spotify_is_configured() -> None:
    settings = _settings(
        spotify_client_id="id", spotify_client_secret="secret", schedule_enrich_cron="0 * * * *"
    )
    (schedule,) = static_schedules(settings)
    assert schedule.kind == "enrich" and schedule.arguments["only_missing"] is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"schedule_beatport_top100_genres": "not-a-genre"},
            "SCHEDULE_BEATPORT_TOP100_GENRES: Unknown Beatport genre",
        ),
        (
            {"schedule_beatport_top100_genres": "tech-house", "schedule_beatport_cron": "0 25 * * *"},
            "SCHEDULE_BEATPORT_CRON",
        ),
        ({"schedule_timezone": "Mars/Olympus"}, "SCHEDULE_TIMEZONE: unknown time zone"),
    ],
)
def test_invalid_settings_are_reported_by_name(values: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        static_schedules(_settings(**values))


def test_next_run_respects_the_time_zone() -> None:
    schedule = new_schedule(
        steps=[ScheduleStep.of("collect", {"target": "/top-100"}, "")],
        cron="0 6 * * *",
        timezone="Europe/Berlin",
    )
    after = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    # 06:00 in Berlin (UTC+2 in summer) is 04:00 UTC, next day.
    assert next_run(schedule, after=after) == dt.datetime(2026, 7, 2, 4, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *"])
def test_a_cron_that_never_fires_is_refused(cron: str) -> None:
    with pytest.raises(ScheduleError, match="never fires"):
        validate_cron(cron)


def test_a_stored_cron_that_never_fires_has_no_next_run() -> None:
    schedule = new_schedule(
        steps=[ScheduleStep.of("collect", {"target": "/top-100"}, "x")], cron="0 0 * * *", timezone="UTC"
    )
    never = schedule.model_copy(update={"cron": "0 0 31 2 *"})  # saved before such crons were refused
    assert next_run(never) is None


@pytest.mark.parametrize(
    ("cron", "minutes"), [("*/5 * * * *", 5), ("0 6 * * *", 1440), ("0,5 9 * * *", 5), ("*/15 * * * *", 15)]
)
def test_the_shortest_interval_of_a_cron(cron: str, minutes: float) -> None:
    assert shortest_interval_minutes(cron) == minutes


def test_a_cron_firing_more_often_than_the_minimum_is_refused() -> None:
    with pytest.raises(ScheduleError, match="SCHEDULE_MIN_INTERVAL_MINUTES"):
        check_interval("0,5 9 * * *", timezone="UTC", minimum_minutes=15)
    check_interval("*/15 * * * *", timezone="UTC", minimum_minutes=15)
