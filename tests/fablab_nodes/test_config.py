"""The agent's config: clear errors with exit code 2, and the token never shown."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from fablab_nodes.cli import agent
from fablab_nodes.config import AcceptPolicy, ConfigError, install_redaction, load_config
from tests.fablab_nodes.conftest import machine_toml
from tests.fablab_nodes.fake_hub import FakeHub

TOKEN = "node-token-s3cr3t-value"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(agent, list(args), env=env)
    return result.exit_code, result.output


def test_a_good_config_reads_with_paths_beside_it(write_config: Callable[..., Path]) -> None:
    path = write_config()
    config = load_config(path)
    assert config.state_dir == path.parent / "agent-state"
    assert config.accept is AcceptPolicy.AUTO
    assert config.machines[0].build_volume_mm == (250.0, 210.0, 220.0)
    assert config.token.reveal() == TOKEN
    assert TOKEN not in repr(config) and TOKEN not in str(config.token)


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    code, out = invoke("--config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "config file not found" in out


def test_no_config_option_exits_2() -> None:
    code, out = invoke("jobs")
    assert code == 2
    assert "--config" in out


def test_bad_toml_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text('hub = "http://x\n[[machines]\n')
    code, out = invoke("--config", str(path))
    assert code == 2
    assert "not valid TOML" in out


def test_missing_token_exits_2_and_says_where_to_put_it(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text('hub = "http://127.0.0.1:9"\n' + machine_toml())
    code, out = invoke("--config", str(path), env={"COSMOLOC_NODE_TOKEN": ""})
    assert code == 2
    assert "token_file" in out and "COSMOLOC_NODE_TOKEN" in out


def test_token_may_come_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text('hub = "http://127.0.0.1:9"\n' + machine_toml())
    config = load_config(path, env={"COSMOLOC_NODE_TOKEN": TOKEN})
    assert config.token.reveal() == TOKEN


@pytest.mark.parametrize(("machine", "key_named"), [
    (machine_toml(driver="repetier"), "machines[0] (mk4-1).driver"),
    (machine_toml(volume=(250, 210, 0)), "machines[0] (mk4-1).build_volume_mm"),
    (machine_toml(process="3d_printing"), "machines[0] (mk4-1).process"),
    (machine_toml(speed=-1), "machines[0] (mk4-1).speed"),
])
def test_bad_machine_names_the_key(write_config: Callable[..., Path], machine: str, key_named: str) -> None:
    path = write_config(machines=machine)
    code, out = invoke("--config", str(path))
    assert code == 2
    assert key_named in out
    assert TOKEN not in out
    with pytest.raises(ConfigError, match=r"unknown driver 'repetier'" if "repetier" in machine else "."):
        load_config(path)


def test_bad_accept_and_unknown_key(write_config: Callable[..., Path]) -> None:
    path = write_config(accept="sometimes")
    with pytest.raises(ConfigError, match="accept"):
        load_config(path)
    path.write_text(path.read_text().replace("poll_interval_s", "pol_interval_s"))
    with pytest.raises(ConfigError, match="pol_interval_s: unknown key"):
        load_config(path)


def test_outbox_retention_defaults_and_settings(write_config: Callable[..., Path]) -> None:
    path = write_config()
    config = load_config(path)
    assert (config.outbox_keep_days, config.outbox_keep_reports) == (7.0, 1000)
    text = path.read_text()
    path.write_text(text.replace('accept = "auto"', 'accept = "auto"\noutbox_keep_days = 0.5\noutbox_keep_reports = 20'))
    config = load_config(path)
    assert (config.outbox_keep_days, config.outbox_keep_reports) == (0.5, 20)
    for bad, key in (("outbox_keep_days = -1", "outbox_keep_days"), ("outbox_keep_reports = 2.5", "outbox_keep_reports")):
        path.write_text(text.replace('accept = "auto"', f'accept = "auto"\n{bad}'))
        with pytest.raises(ConfigError, match=f"{key}: must be"):
            load_config(path)


def test_token_is_never_printed_nor_logged(write_config: Callable[..., Path], caplog: pytest.LogCaptureFixture,
                                           hub: FakeHub) -> None:
    # The hub is down: the command fails with an I/O error that names the hub, not the token.
    path = write_config()
    hub.stop()
    with caplog.at_level(logging.DEBUG):
        code, out = invoke("-vv", "jobs", "--config", str(path))
    assert code == 2
    assert "cannot reach the hub" in out
    assert TOKEN not in out
    assert TOKEN not in caplog.text
    # Refused by the hub (wrong token in the file): the refusal is shown, the token is not.
    hub.start()
    path = write_config(token="wrong-" + TOKEN)
    code, out = invoke("jobs", "--config", str(path))
    assert code == 1 and "401" in out
    assert TOKEN not in out


def test_redaction_filter_blanks_the_token_in_log_lines(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config())
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("test.redaction")
    handler = Keep()
    logger.addHandler(handler)
    install_redaction(config.token, logger)
    logger.warning("oops the token is %s", config.token.reveal())
    logger.removeHandler(handler)
    assert records == ["oops the token is ********"]
