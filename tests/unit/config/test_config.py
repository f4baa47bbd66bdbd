"""Settings: defaults, TOML file < STREAMGUARD_* env < keyword overrides, secrets, errors."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from streamguard import cli
from streamguard.config import EMBEDDED, Settings, load_settings

WEBHOOK_SECRET = "whsec-5f1d-hunter2"
SASL_PASSWORD = "sasl-pw-0xC0FFEE"

# A self-signed CA certificate (public; no key): CN=streamguard-test-ca, valid to 2126.
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIDHzCCAgegAwIBAgIUAKZNU8ngOJ4MSvPUz0sCv+eJY6swDQYJKoZIhvcNAQEL
BQAwHjEcMBoGA1UEAwwTc3RyZWFtZ3VhcmQtdGVzdC1jYTAgFw0yNjExMjMxMDQx
MDJaGA8yMTI2MTAzMDEwNDEwMlowHjEcMBoGA1UEAwwTc3RyZWFtZ3VhcmQtdGVz
dC1jYTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAJC9Y6DJSWrQTjBX
zls1IMnExuzKxnDYly/UMo4nqDUNOtl86Vokw2gbSCsQUmNG5LHPNrgv8UsdRFuc
xxxqNVRoU5aZgti837FFyJLCQl2AbxxepfhWQD9CimKcpzQDOx4Nos/EXLTtOj9M
Of967r40ttCtlpqi6wrYZcG5KJhFC5Ty8EfDiN1anXQXEiw18elXZMOj5vM2qqNE
cM954nuLnLbnpbNKBx3Bsh6tgiH2fPtJ4czi8kN68/R1DChEYtCVRixNksZytMoP
+N5nwbVxtwvQMql10GTFpBQEk13R3mwSLMW+RjmKxzfZ0idqP9PgR+ioVis9FoNi
uXsuq/ECAwEAAaNTMFEwHQYDVR0OBBYEFL0Sim+IphNG8lr1d8mNakp0O+lvMB8G
A1UdIwQYMBaAFL0Sim+IphNG8lr1d8mNakp0O+lvMA8GA1UdEwEB/wQFMAMBAf8w
DQYJKoZIhvcNAQELBQADggEBAI3nIWVmSl8jHAMsezdCJYHoBe+ZCvflCWw9EJbo
yvF41bb4lOItljNTc+3cdLxqMB7Ww7au66P9by8xaBcSWvVphIckD+zGj7r6tdvI
hEzml9+7OpTV4Dta6OR/K4Bg9MJ6FIKXkv+W2movvg1XbkRkKVzVRNvSbyf+96oo
cXy5mO19KJUK6ylvHVByueVDN9z2DJ0yXsyvAKUgInqJ+Jj6qwhk/m2rOWcMW++k
nYLjFZzuItYnEYmloptRIvZZAyerA3syY9a6w990QpKYvDzxVZZYlrLOdcjpc2h5
5o8IuYyICFOO9YbCuhahl+01wY4WUfWK8btblauB5h3hjP0=
-----END CERTIFICATE-----
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamguard.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults ----------------------------------------------------------------------


def test_defaults_work_with_the_embedded_broker() -> None:
    s = load_settings()
    assert s.broker == EMBEDDED and s.is_embedded
    assert (s.metrics_host, s.metrics_port) == ("127.0.0.1", 9108)
    assert s.security_protocol == "PLAINTEXT"
    assert s.topic_behavior == "events.behavior"
    assert s.topic_quarantine == "streamguard.quarantine"
    assert s.webhook_secret is None and s.sasl_password is None
    with pytest.raises(ValueError, match="embedded"):
        s.bootstrap_servers()


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.metrics_port = 1  # type: ignore[misc]


def test_bootstrap_servers_strip_the_scheme() -> None:
    s = Settings(broker="kafka://k1:9092,k2:9093")
    assert not s.is_embedded
    assert s.bootstrap_servers() == "k1:9092,k2:9093"


# --- sources and their priority ----------------------------------------------------


def test_design_md_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGUARD_BROKER", "kafka://kafka:9092")
    monkeypatch.setenv("STREAMGUARD_METRICS_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("STREAMGUARD_METRICS_PORT", "9200")
    monkeypatch.setenv("STREAMGUARD_MODEL", "/models/minilm")
    monkeypatch.setenv("STREAMGUARD_DEVICE", "cpu")
    monkeypatch.setenv("STREAMGUARD_WEBHOOK_URL", "https://alerts.example/hook")
    monkeypatch.setenv("STREAMGUARD_WEBHOOK_SECRET", WEBHOOK_SECRET)
    s = load_settings()
    assert s.bootstrap_servers() == "kafka:9092"
    assert (s.metrics_host, s.metrics_port) == ("0.0.0.0", 9200)  # noqa: S104
    assert (s.model, s.device) == ("/models/minilm", "cpu")
    assert s.webhook_url == "https://alerts.example/hook"
    assert s.webhook_secret is not None
    assert s.webhook_secret.get_secret_value() == WEBHOOK_SECRET


def test_file_values_apply(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        '[streamguard]\nbroker = "kafka://file:9092"\nmetrics_port = 1234\n'
        'topic_quarantine = "dq.quarantine"\ndedupe_window_s = 60\n',
    )
    s = load_settings(path)
    assert s.broker == "kafka://file:9092"
    assert s.metrics_port == 1234
    assert s.topic_quarantine == "dq.quarantine"
    assert s.dedupe_window_s == 60.0
    assert s.topic_behavior == "events.behavior"  # untouched default


def test_file_without_a_table(tmp_path: Path) -> None:
    assert load_settings(toml(tmp_path, "metrics_port = 4321\n")).metrics_port == 4321


def test_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(
        tmp_path,
        '[streamguard]\nbroker = "kafka://file:9092"\nmetrics_port = 1234\ndevice = "cuda"\n'
        'webhook_secret = "from-file"\n',
    )
    monkeypatch.setenv("STREAMGUARD_METRICS_PORT", "4321")
    monkeypatch.setenv("STREAMGUARD_WEBHOOK_SECRET", WEBHOOK_SECRET)
    s = load_settings(path)
    assert s.metrics_port == 4321
    assert s.webhook_secret is not None
    assert s.webhook_secret.get_secret_value() == WEBHOOK_SECRET
    assert (s.broker, s.device) == ("kafka://file:9092", "cuda")  # from the file


def test_env_equal_to_the_default_still_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(tmp_path, '[streamguard]\nmetrics_port = 1234\ndevice = "cuda"\n')
    monkeypatch.setenv("STREAMGUARD_METRICS_PORT", "9108")
    monkeypatch.setenv("STREAMGUARD_DEVICE", "auto")
    s = load_settings(path)
    assert (s.metrics_port, s.device) == (9108, "auto")


def test_env_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("streamguard_metrics_port", "9300")
    assert load_settings().metrics_port == 9300


def test_keyword_overrides_win_over_env_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(tmp_path, "metrics_port = 1234\n")
    monkeypatch.setenv("STREAMGUARD_METRICS_PORT", "4321")
    assert load_settings(path, metrics_port=5555).metrics_port == 5555


def test_cli_reads_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b'{"event_id": "e", "pad": "' + b"x" * 1500 + b'"}\n')
    config = toml(tmp_path, "[streamguard]\nmax_record_bytes = 1024\n")
    out = tmp_path / "out"
    assert cli.main(["--config", str(config), "check", str(data), "--out", str(out)]) == 0
    capsys.readouterr()
    assert orjson.loads((out / "report.json").read_bytes())["reasons"] == {"too_large": 1}


# --- secrets -----------------------------------------------------------------------


def _with_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    path = toml(
        tmp_path,
        f'[streamguard]\nsecurity_protocol = "SASL_SSL"\nsasl_username = "svc"\n'
        f'sasl_password = "{SASL_PASSWORD}"\n',
    )
    monkeypatch.setenv("STREAMGUARD_WEBHOOK_SECRET", WEBHOOK_SECRET)
    return load_settings(path)


def test_secrets_are_secret_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _with_secrets(tmp_path, monkeypatch)
    assert isinstance(s.webhook_secret, SecretStr)
    assert isinstance(s.sasl_password, SecretStr)
    assert s.sasl_password.get_secret_value() == SASL_PASSWORD


def test_secrets_never_appear_in_dumps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _with_secrets(tmp_path, monkeypatch)
    redacted = s.redacted()
    texts = {
        "redacted": orjson.dumps(redacted).decode(),
        "repr": repr(s),
        "str": str(s),
        "format": f"{s}",
        "json": s.model_dump_json(),
        "dump": str(s.model_dump()),
    }
    for where, text in texts.items():
        assert WEBHOOK_SECRET not in text, where
        assert SASL_PASSWORD not in text, where
    # Masked, not dropped: the dump still says a secret is set.
    assert redacted["webhook_secret"] and redacted["sasl_password"]
    assert redacted["sasl_username"] == "svc"
    assert redacted["metrics_port"] == s.metrics_port


def test_redacted_is_json_able() -> None:
    redacted = Settings(ssl_cafile=Path("/etc/ca.pem")).redacted()
    assert orjson.loads(orjson.dumps(redacted)) == redacted
    assert redacted["ssl_cafile"] == "/etc/ca.pem"
    assert redacted["webhook_secret"] is None


def test_secret_not_echoed_in_validation_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGUARD_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STREAMGUARD_METRICS_PORT", "not-a-port")
    with pytest.raises(ValidationError) as info:
        load_settings()
    assert WEBHOOK_SECRET not in str(info.value)


# --- invalid values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("STREAMGUARD_METRICS_PORT", "99999", "metrics_port"),
        ("STREAMGUARD_METRICS_PORT", "http", "metrics_port"),
        ("STREAMGUARD_BROKER", "localhost:9092", "broker"),
        ("STREAMGUARD_DEVICE", "tpu", "device"),
        ("STREAMGUARD_SECURITY_PROTOCOL", "TLS", "security_protocol"),
        ("STREAMGUARD_SASL_MECHANISM", "GSSAPI", "sasl_mechanism"),
        ("STREAMGUARD_BATCH_SIZE", "0", "batch_size"),
        ("STREAMGUARD_MAX_RECORD_BYTES", "10", "max_record_bytes"),
    ],
)
def test_invalid_env_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        load_settings()
    assert field in str(info.value)


def test_broker_error_says_what_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGUARD_BROKER", "localhost:9092")
    with pytest.raises(ValidationError, match="kafka://host:port"):
        load_settings()


def test_invalid_file_value(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="metrics_port"):
        load_settings(toml(tmp_path, "metrics_port = -1\n"))


def test_unknown_file_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="metrics_prot"):
        load_settings(toml(tmp_path, "metrics_prot = 9000\n"))


def test_unparseable_file_names_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, "metrics_port = = 1\n")
    with pytest.raises(ValueError, match="streamguard.toml"):
        load_settings(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absent.toml"):
        load_settings(tmp_path / "absent.toml")


def test_cli_reports_invalid_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"{}\n")
    monkeypatch.setenv("STREAMGUARD_DEVICE", "tpu")
    assert cli.main(["check", str(data), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and "device" in err
    assert cli.main(["--config", str(tmp_path / "nope.toml"), "check", str(data)]) == 2
    assert "nope.toml" in capsys.readouterr().err


# --- kafka_client_options ------------------------------------------------------------


def test_plaintext_options() -> None:
    assert Settings().kafka_client_options() == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_options_pass_through(monkeypatch: pytest.MonkeyPatch, mechanism: str) -> None:
    monkeypatch.setenv("STREAMGUARD_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("STREAMGUARD_SASL_MECHANISM", mechanism)
    monkeypatch.setenv("STREAMGUARD_SASL_USERNAME", "svc")
    monkeypatch.setenv("STREAMGUARD_SASL_PASSWORD", SASL_PASSWORD)
    assert load_settings().kafka_client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "svc",
        "sasl_plain_password": SASL_PASSWORD,
    }


def test_sasl_mechanism_defaults_to_plain() -> None:
    options = Settings(security_protocol="SASL_PLAINTEXT", sasl_username="u").kafka_client_options()
    assert options["sasl_mechanism"] == "PLAIN"
    assert options["sasl_plain_password"] is None


@pytest.mark.parametrize("check_hostname", [True, False])
def test_ssl_options_build_a_context_from_the_ca_file(tmp_path: Path, check_hostname: bool) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text(CA_PEM)
    s = Settings(security_protocol="SSL", ssl_cafile=cafile, ssl_check_hostname=check_hostname)
    options = s.kafka_client_options()
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    subjects = [dict(x[0] for x in cert["subject"]) for cert in context.get_ca_certs()]
    assert {"commonName": "streamguard-test-ca"} in subjects


def test_sasl_ssl_has_both(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text(CA_PEM)
    s = Settings(
        security_protocol="SASL_SSL",
        ssl_cafile=cafile,
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=SASL_PASSWORD,  # type: ignore[arg-type]
    )
    options = s.kafka_client_options()
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == SASL_PASSWORD


def test_a_missing_ca_file_fails_loudly(tmp_path: Path) -> None:
    s = Settings(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")
    with pytest.raises(OSError):
        s.kafka_client_options()
