import pytest
from cryptography.fernet import Fernet

from worker.core.settings import Settings, SettingsError


def test_defaults_match_the_contract():
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///socialcal.db"
    assert s.broker_url == "redis://localhost:6379/0"
    assert s.budget_redis_url == s.broker_url
    assert s.graph_calls_per_hour == 200
    assert s.graph_url.startswith("https://graph.facebook.com/v")
    assert s.graph_video_url.startswith("https://graph-video.facebook.com/v")
    assert s.encryption_keys == ()
    assert s.anomaly_threshold == 3.5 == Settings().anomaly_threshold  # |score| past 3.5 "sigmas" is an anomaly
    # Inside both of Meta's readings of the window (75 days in the feed reference, 30 in the posts guide).
    assert s.schedule_max_days == 29
    assert Settings.from_env({"SOCIALCAL_SCHEDULE_MAX_DAYS": "60"}).schedule_max_days == 60


@pytest.mark.parametrize(("name", "value"), [
    ("SOCIALCAL_DATABASE_URL", "not a url"),
    ("SOCIALCAL_BROKER_URL", "htp:/broken"),
    ("SOCIALCAL_GRAPH_URL", "ftp://graph"),
    ("SOCIALCAL_GRAPH_URL", "http://"),
    ("SOCIALCAL_REDIS_URL", "redis://host:notaport/0"),
    ("SOCIALCAL_ENCRYPTION_KEYS", "not-a-fernet-key"),
    ("SOCIALCAL_GRAPH_CALLS_PER_HOUR", "-5"),
    ("SOCIALCAL_GRAPH_CALLS_PER_HOUR", "lots"),
    ("SOCIALCAL_INSIGHTS_BUDGET_SHARE", "1.5"),
    ("SOCIALCAL_SCHEDULE_MAX_DAYS", "76"),  # past Meta's own 75-day window
    ("SOCIALCAL_SCHEDULE_MAX_DAYS", "0"),
])
def test_bad_value_is_one_line_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert message.startswith(name + ":")
    assert "\n" not in message


def test_keys_newest_first_and_redis_url_explicit():
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    s = Settings.from_env({"SOCIALCAL_ENCRYPTION_KEYS": f"{k1}, {k2}", "SOCIALCAL_REDIS_URL": "redis://r:6379/3",
                           "SOCIALCAL_GRAPH_URL": "http://127.0.0.1:9/v24.0/"})
    assert s.encryption_keys == (k1, k2)
    assert s.budget_redis_url == "redis://r:6379/3"
    assert s.graph_url == "http://127.0.0.1:9/v24.0"


def test_second_key_malformed_is_named_by_position():
    good = Fernet.generate_key().decode()
    with pytest.raises(SettingsError, match="key #2"):
        Settings.from_env({"SOCIALCAL_ENCRYPTION_KEYS": f"{good},bad"})


def test_app_secret_not_in_repr():
    s = Settings.from_env({"SOCIALCAL_FB_APP_SECRET": "topsecretvalue"})
    assert "topsecretvalue" not in repr(s)


def test_a_lease_shorter_than_two_graph_timeouts_is_refused():
    # A lease a Graph call could outlast would let a second worker publish while the first call lands.
    with pytest.raises(SettingsError, match="SOCIALCAL_PUBLISH_LEASE_SECONDS: must be at least twice"):
        Settings.from_env({"SOCIALCAL_PUBLISH_LEASE_SECONDS": "50"})  # the Graph timeout is 30 s
    assert Settings.from_env({"SOCIALCAL_PUBLISH_LEASE_SECONDS": "60"}).publish_lease_seconds == 60
    assert Settings.from_env({"SOCIALCAL_PUBLISH_LEASE_SECONDS": "8",
                              "SOCIALCAL_GRAPH_TIMEOUT_SECONDS": "4"}).publish_lease_seconds == 8


def test_recovery_defaults_fit_the_three_minute_promise():
    s = Settings.from_env({})
    # After every worker died, a post waits at most one lease for the next worker to take it back.
    assert s.publish_lease_seconds == 90 and s.publish_lease_seconds >= 2 * s.graph_timeout_seconds
    assert s.redispatch_after_seconds == 120 and s.recover_on_start is True
    assert s.dispatch_every_seconds == 60


@pytest.mark.parametrize(("raw", "value"), [("off", False), ("0", False), ("ON", True), ("true", True)])
def test_recover_on_start_reads_on_and_off(raw, value):
    assert Settings.from_env({"SOCIALCAL_RECOVER_ON_START": raw}).recover_on_start is value


def test_recover_on_start_refuses_other_words():
    with pytest.raises(SettingsError, match="SOCIALCAL_RECOVER_ON_START: expected on/off"):
        Settings.from_env({"SOCIALCAL_RECOVER_ON_START": "maybe"})
