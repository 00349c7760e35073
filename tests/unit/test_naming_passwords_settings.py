"""Computer names (contract), one-time passwords, settings from the environment."""

from __future__ import annotations

import hashlib
import re
import string

import pytest

from adjoin.naming import computer_name
from adjoin.passwords import (
    DAY_MS,
    ONE_TIME_PASSWORD_PATTERN,
    OtpDeriver,
    derive_password,
    one_time_password,
)
from adjoin.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("instance_id", "prefix", "expected"),
    [
        # docs/contracts.md: prefix + the last 15 - len(prefix) hex digits, upper case
        ("i-0123456789abcdef0", "EC2", "EC256789ABCDEF0"),
        ("i-0123456789abcdef0", "ec2", "EC256789ABCDEF0"),
        ("i-0123456789abcdef0", "W", "W3456789ABCDEF0"),
        ("i-0123456789abcdef0", "PROD", "PROD6789ABCDEF0"),
        ("i-1a2b3c4d", "EC2", "EC21A2B3C4D"),
    ],
)
def test_computer_name_per_contract(instance_id: str, prefix: str, expected: str) -> None:
    name = computer_name(instance_id, prefix)
    assert name == expected
    assert len(name) <= 15


@pytest.mark.parametrize("prefix", ["", "12", "TOOLONG", "E-2", "é"])
def test_bad_prefix_is_an_error(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        computer_name("i-0123456789abcdef0", prefix)


@pytest.mark.parametrize("instance_id", ["i-123", "0123456789abcdef0", "i-0123456789ABCDEF0", ""])
def test_bad_instance_id_is_an_error(instance_id: str) -> None:
    with pytest.raises(ValueError, match="instance id"):
        computer_name(instance_id)


def test_one_time_passwords_match_the_document_pattern_and_ad_complexity() -> None:
    seen = set()
    for _ in range(200):
        password = one_time_password()
        assert re.match(ONE_TIME_PASSWORD_PATTERN, password)
        assert len(password) == 32
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(c in "._~+=-" for c in password)
        seen.add(password)
    assert len(seen) == 200


@pytest.mark.parametrize("length", [15, 65])
def test_one_time_password_length_bounds(length: int) -> None:
    with pytest.raises(ValueError, match="16-64"):
        one_time_password(length)


def test_derived_passwords_are_deterministic_distinct_and_meet_the_rules() -> None:
    key = b"k" * 32
    passwords = {derive_password(key, f"i-0123456789abcdef0|claim-{n}") for n in range(500)}
    assert len(passwords) == 500  # a new claim, a new password
    assert derive_password(key, "i-0|c") == derive_password(key, "i-0|c")  # the same claim
    assert derive_password(b"x" * 32, "i-0|c") != derive_password(key, "i-0|c")  # the key counts
    for password in passwords:
        assert re.match(ONE_TIME_PASSWORD_PATTERN, password) and len(password) == 32
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(c in "._~+=-" for c in password)


def test_derived_characters_are_spread_over_the_whole_alphabet() -> None:
    from collections import Counter

    counts = Counter("".join(derive_password(b"k" * 32, f"c{n}") for n in range(2000)))
    assert set(counts) == set(string.ascii_letters + string.digits + "._~+=-")
    expected = 2000 * 32 / 68
    assert max(counts.values()) < 1.25 * expected and min(counts.values()) > 0.75 * expected


class _Kms:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def generate_mac(self, *, KeyId: str, Message: bytes, MacAlgorithm: str) -> dict[str, bytes]:
        assert (KeyId, MacAlgorithm) == ("alias/ad-join-otp", "HMAC_SHA_256")
        self.messages.append(Message)
        return {"Mac": hashlib.sha256(Message).digest()}


def test_one_derivation_key_per_day_and_container() -> None:
    kms = _Kms()
    deriver = OtpDeriver(kms, "alias/ad-join-otp")
    day = 20_000 * DAY_MS
    first = deriver.password("i-1", "m-1", day + 5)
    assert deriver.password("i-1", "m-1", day + DAY_MS - 1) == first  # the same day: cached
    assert deriver.password("i-2", "m-2", day + 7) != first
    assert len(kms.messages) == 1
    assert kms.messages[0] == b"ad-join one-time password derivation key v1, day 20000"
    deriver.password("i-1", "m-1", day + DAY_MS)  # the next day: another key
    assert len(kms.messages) == 2


def test_concurrent_first_callers_ask_kms_once() -> None:
    import threading
    import time

    class SlowKms(_Kms):
        def generate_mac(self, **kwargs: object) -> dict[str, bytes]:
            time.sleep(0.05)
            return super().generate_mac(**kwargs)  # type: ignore[arg-type]

    kms = SlowKms()
    deriver = OtpDeriver(kms, "alias/ad-join-otp")
    threads = [
        threading.Thread(target=deriver.password, args=(f"i-{n}", "m", 0)) for n in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kms.messages) == 1


REQUIRED = {
    "CONFIG_TABLE_NAME": "cfg",
    "STATE_TABLE_NAME": "state",
    "HUB_ACCOUNT_ID": "123456789012",
    "QUEUE_URL": "https://sqs/q",
    "DLQ_URL": "https://sqs/dlq",
    "AWS_REGION": "eu-west-1",
}


def test_settings_defaults_match_the_contract() -> None:
    s = Settings.from_env(REQUIRED)
    assert (s.spoke_role_name, s.linux_join_document, s.windows_join_document) == (
        "ad-join-spoke",
        "ad-join-linux-join",
        "ad-join-windows-join",
    )
    assert (s.leave_document, s.ad_tools_host_tag, s.ad_tools_host_tag_pair) == (
        "ad-join-leave",
        "adToolsHost=true",
        ("adToolsHost", "true"),
    )
    assert (s.directory_adapter, s.leave_adapter, s.directory_region) == (
        "ds",
        "ad_tools_host",
        "eu-west-1",
    )
    assert (s.computer_name_prefix, s.config_cache_ttl_seconds) == ("EC2", 60)
    assert s.tag_computer_name is False  # the adComputerName tag is opt-in
    assert (s.retry_base_seconds, s.retry_max_seconds) == (10, 3600)


def test_settings_read_every_variable() -> None:
    env = {
        **REQUIRED,
        "SPOKE_ROLE_NAME": "r",
        "LINUX_JOIN_DOCUMENT": "l",
        "WINDOWS_JOIN_DOCUMENT": "w",
        "LEAVE_DOCUMENT": "lv",
        "AD_TOOLS_HOST_TAG": "role=adtools",
        "DIRECTORY_ADAPTER": "ldap",
        "LEAVE_ADAPTER": "none",
        "DIRECTORY_REGION": "us-west-2",
        "COMPUTER_NAME_PREFIX": "AB1",
        "TAG_COMPUTER_NAME": "true",
        "CONFIG_CACHE_TTL_SECONDS": "5",
        "RETRY_BASE_SECONDS": "10",
        "RETRY_MAX_SECONDS": "600",
        "OTP_KEY_ID": "alias/x-otp",
    }
    s = Settings.from_env(env)
    assert s == Settings(
        config_table_name="cfg",
        state_table_name="state",
        hub_account_id="123456789012",
        queue_url="https://sqs/q",
        dlq_url="https://sqs/dlq",
        directory_region="us-west-2",
        spoke_role_name="r",
        linux_join_document="l",
        windows_join_document="w",
        leave_document="lv",
        ad_tools_host_tag="role=adtools",
        directory_adapter="ldap",
        leave_adapter="none",
        computer_name_prefix="AB1",
        tag_computer_name=True,
        config_cache_ttl_seconds=5,
        retry_base_seconds=10,
        retry_max_seconds=600,
        otp_key_id="alias/x-otp",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CONFIG_TABLE_NAME": ""}, "CONFIG_TABLE_NAME is required"),
        ({"STATE_TABLE_NAME": " "}, "STATE_TABLE_NAME is required"),
        ({"QUEUE_URL": ""}, "QUEUE_URL is required"),
        ({"DLQ_URL": ""}, "DLQ_URL is required"),
        ({"HUB_ACCOUNT_ID": ""}, "HUB_ACCOUNT_ID is required"),
        ({"HUB_ACCOUNT_ID": "12345"}, "12-digit"),
        ({"AWS_REGION": ""}, "DIRECTORY_REGION is required"),
        ({"DIRECTORY_ADAPTER": "kerberos"}, "DIRECTORY_ADAPTER must be one of"),
        ({"LEAVE_ADAPTER": "ds"}, "LEAVE_ADAPTER must be one of"),
        ({"AD_TOOLS_HOST_TAG": "novalue"}, "AD_TOOLS_HOST_TAG must look like key=value"),
        ({"COMPUTER_NAME_PREFIX": "TOOLONG"}, "COMPUTER_NAME_PREFIX"),
        ({"TAG_COMPUTER_NAME": "yes"}, "TAG_COMPUTER_NAME must be true or false"),
        ({"RETRY_BASE_SECONDS": "soon"}, "RETRY_BASE_SECONDS must be an integer"),
        ({"RETRY_BASE_SECONDS": "0"}, "RETRY_BASE_SECONDS must be between"),
        ({"CONFIG_CACHE_TTL_SECONDS": "-1"}, "CONFIG_CACHE_TTL_SECONDS must be between"),
        ({"DEFAULT_DIRECTORY_ID": "corp"}, "DEFAULT_DIRECTORY_ID must be a Directory Service id"),
    ],
)
def test_invalid_settings_are_named(change: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({**REQUIRED, **change})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({})
    text = str(info.value)
    for name in ("CONFIG_TABLE_NAME", "STATE_TABLE_NAME", "HUB_ACCOUNT_ID", "QUEUE_URL", "DLQ_URL"):
        assert f"{name} is required" in text


def test_default_directory_is_read_and_optional() -> None:
    assert Settings.from_env(REQUIRED).default_directory_id == ""
    with_default = Settings.from_env({**REQUIRED, "DEFAULT_DIRECTORY_ID": "d-0123456789"})
    assert with_default.default_directory_id == "d-0123456789"
