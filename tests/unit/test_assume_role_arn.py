"""Issue 9, defect 5: the role the Lambda assumes for an account is that account's own, and its
ARN is built in the Lambda's partition."""

from __future__ import annotations

import pytest

from adjoin.config import InvalidConfig, parse_account_item
from adjoin.settings import Settings, SettingsError
from tests.unit import fakes

ACCOUNT = fakes.SPOKE_A


def test_an_item_whose_role_is_in_another_account_is_rejected() -> None:
    item = fakes.config_item(
        ACCOUNT, assumeRoleARN=f"arn:aws:iam::{fakes.SPOKE_B}:role/ad-join-spoke"
    )
    with pytest.raises(InvalidConfig, match=f"names account {fakes.SPOKE_B}, not {ACCOUNT}"):
        parse_account_item(ACCOUNT, item)


def test_an_item_whose_role_is_not_a_role_arn_is_rejected() -> None:
    item = fakes.config_item(ACCOUNT, assumeRoleARN=f"arn:aws:iam::{ACCOUNT}:user/admin")
    with pytest.raises(InvalidConfig, match="not an IAM role ARN"):
        parse_account_item(ACCOUNT, item)


def test_the_account_s_own_role_in_any_partition_is_accepted() -> None:
    for role in (
        f"arn:aws:iam::{ACCOUNT}:role/ad-join-spoke",
        f"arn:aws-cn:iam::{ACCOUNT}:role/path/ad-join-spoke",
        "",
    ):
        config = parse_account_item(ACCOUNT, fakes.config_item(ACCOUNT, assumeRoleARN=role))
        assert config.assume_role_arn == role


def test_the_default_role_arn_is_built_in_the_lambda_s_partition() -> None:
    from adjoin.engine import Engine

    env = fakes.World("https://q", "https://d").env(PARTITION="aws-us-gov")
    settings = Settings.from_env(env)
    config = parse_account_item(ACCOUNT, fakes.config_item(ACCOUNT, assumeRoleARN=""))
    engine = Engine.__new__(Engine)
    engine.settings = settings
    assert engine._role_arn(config) == f"arn:aws-us-gov:iam::{ACCOUNT}:role/ad-join-spoke"


def test_a_bad_partition_setting_is_refused() -> None:
    env = fakes.World("https://q", "https://d").env(PARTITION="arn:aws")
    with pytest.raises(SettingsError, match="PARTITION must be an AWS partition"):
        Settings.from_env(env)
