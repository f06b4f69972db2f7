"""Settings come from TESSERA_* variables and a bad one is named in the error."""

from __future__ import annotations

import pytest

from tessera.core.settings import SettingsError, TesseraSettings, load_settings


def test_defaults_without_environment(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(TesseraSettings)
    assert settings.grpc_port == 50051
    assert settings.kafka_bootstrap is None
    assert settings.triton_url is None
    assert settings.artifacts_uri.startswith("file://")


def test_reads_prefixed_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TESSERA_GRPC_PORT", "6000")
    clean_env.setenv("TESSERA_KAFKA_BOOTSTRAP", "broker:9092")
    clean_env.setenv("TESSERA_AUTH_TOKEN", "sekr1t-value")
    settings = load_settings(TesseraSettings)
    assert settings.grpc_port == 6000
    assert settings.kafka_bootstrap == "broker:9092"
    assert settings.auth_token is not None and settings.auth_token.get_secret_value() == "sekr1t-value"
    assert "sekr1t-value" not in repr(settings), "secrets are not printed"


@pytest.mark.parametrize(
    ("var", "value", "problem"),
    [
        ("TESSERA_GRPC_PORT", "not-a-port", "integer"),
        ("TESSERA_GRPC_PORT", "70000", "less than or equal to 65535"),
        ("TESSERA_ARTIFACTS_URI", "ftp://x", "s3:// or file://"),
        ("TESSERA_LOG_LEVEL", "LOUD", "DEBUG"),
    ],
)
def test_bad_variable_is_named(clean_env: pytest.MonkeyPatch, var: str, value: str, problem: str) -> None:
    clean_env.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings(TesseraSettings)
    assert var in str(err.value)
    assert problem in str(err.value)


def test_service_subclass_adds_fields(clean_env: pytest.MonkeyPatch) -> None:
    class BidsSettings(TesseraSettings):
        max_upload_mb: int = 512

    clean_env.setenv("TESSERA_MAX_UPLOAD_MB", "-")
    with pytest.raises(SettingsError, match="TESSERA_MAX_UPLOAD_MB"):
        load_settings(BidsSettings)
