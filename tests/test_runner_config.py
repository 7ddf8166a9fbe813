"""Job runner configuration: sources, precedence, validation (spec §18).

``RunnerConfig.from_sources`` is pure; the adapter functions of
``jobrunner.runner`` are checked against the real ``odoo.tools.config`` (its
values are restored after each test).
"""
import odoo
import pytest
from odoo.addons.queue_job import jobrunner
from odoo.addons.queue_job.jobrunner import config as runner_config
from odoo.addons.queue_job.jobrunner import runner
from odoo.addons.queue_job.jobrunner.config import (
    SETTINGS,
    RunnerConfig,
    RunnerConfigError,
    is_disabled_channels,
)


def test_defaults():
    config = RunnerConfig.from_sources({}, {}, {})
    assert config == RunnerConfig(
        channels="root:1",
        scheme="http",
        host="localhost",
        port=8069,
        http_auth_user=None,
        http_auth_password=None,
        db_host=None,
        db_port=None,
        db_user=None,
        db_password=None,
    )
    assert config.sources["port"] == "default"
    assert config.enabled


# setting name -> (environment value, [queue_job] value, Odoo option value,
# expected typed value from each of them)
PRECEDENCE = {
    "channels": ("root:4", "root:3", None),
    "scheme": ("https", "http", None),
    "host": ("env.example", "section.example", "10.0.0.1"),
    "port": ("8070", "8071", 8072),
    "http_auth_user": ("envuser", "sectionuser", None),
    "http_auth_password": ("envpw", "sectionpw", None),
    "db_host": ("envdb", "sectiondb", None),
    "db_port": ("5433", "5434", None),
    "db_user": ("envu", "sectionu", None),
    "db_password": ("envp", "sectionp", None),
}


def _typed(name, value):
    return int(value) if name == "port" else value


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_precedence(setting):
    env_value, section_value, option_value = PRECEDENCE[setting.name]
    environ = {setting.env: env_value}
    section = {setting.key: section_value}
    options = {setting.odoo_option: option_value} if setting.odoo_option else {}

    config = RunnerConfig.from_sources(environ, section, options)
    assert getattr(config, setting.name) == _typed(setting.name, env_value)
    assert config.sources[setting.name] == "environment variable %s" % setting.env

    # An empty environment variable does not count.
    config = RunnerConfig.from_sources({setting.env: ""}, section, options)
    assert getattr(config, setting.name) == _typed(setting.name, section_value)
    assert config.sources[setting.name] == "[queue_job] %s" % setting.key

    config = RunnerConfig.from_sources({}, {setting.key: " "}, options)
    if setting.odoo_option:
        assert getattr(config, setting.name) == _typed(setting.name, option_value)
        assert config.sources[setting.name] == "Odoo option %s" % setting.odoo_option
    else:
        assert config.sources[setting.name] == "default"
    default = setting.default
    config = RunnerConfig.from_sources({}, {}, {})
    assert getattr(config, setting.name) == (
        _typed(setting.name, default) if default is not None else None
    )


def test_environment_variable_names():
    assert [s.env for s in SETTINGS] == [
        "ODOO_QUEUE_JOB_CHANNELS",
        "ODOO_QUEUE_JOB_SCHEME",
        "ODOO_QUEUE_JOB_HOST",
        "ODOO_QUEUE_JOB_PORT",
        "ODOO_QUEUE_JOB_HTTP_AUTH_USER",
        "ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD",
        "ODOO_QUEUE_JOB_JOBRUNNER_DB_HOST",
        "ODOO_QUEUE_JOB_JOBRUNNER_DB_PORT",
        "ODOO_QUEUE_JOB_JOBRUNNER_DB_USER",
        "ODOO_QUEUE_JOB_JOBRUNNER_DB_PASSWORD",
    ]


@pytest.mark.parametrize(
    "channels, bad_entry, reason",
    [
        ("root:x", "root:x", "invalid capacity x"),
        ("root:4,:1", ":1", "missing channel name"),
        ("root:4,a:1:k=1=2", "a:1:k=1=2", "incorrect config item k=1=2"),
        ("root:4,a:1:k:k", "a:1:k:k", "duplicate key k"),
        (
            "root:4,\nq:2:sequential",
            "q:2:sequential",
            "A sequential channel must have a capacity of 1",
        ),
        ("root:2,t:1:throttle=soon", "t:1:throttle=soon", "invalid throttle 'soon'"),
        ("root:-1", "root:-1", "invalid capacity -1"),
        ("root:4,a:-3", "a:-3", "invalid capacity -3"),
        ("root:4,t:1:throttle=-5", "t:1:throttle=-5", "invalid throttle '-5'"),
        ("root:4,t:1:throttle=0", "t:1:throttle=0", "invalid throttle '0'"),
        ("root:4,t:1:throttle=nan", "t:1:throttle=nan", "invalid throttle 'nan'"),
        ("root:4,t:1:throttle=inf", "t:1:throttle=inf", "invalid throttle 'inf'"),
        ("root:4,a:1:bogus", "a:1:bogus", "unknown option 'bogus'"),
        ("root:4,a:1:bogus=2", "a:1:bogus=2", "unknown option 'bogus'"),
        (
            "root:4,a:1:sequentail",
            "a:1:sequentail",
            "unknown option 'sequentail' (did you mean 'sequential'?)",
        ),
        (
            "root:4,a:1:throtle=2",
            "a:1:throtle=2",
            "unknown option 'throtle' (did you mean 'throttle'?)",
        ),
    ],
)
def test_invalid_channels_name_the_entry_and_the_source(channels, bad_entry, reason):
    with pytest.raises(RunnerConfigError) as excinfo:
        RunnerConfig.from_sources({"ODOO_QUEUE_JOB_CHANNELS": channels}, {}, {})
    message = str(excinfo.value)
    assert "entry %r" % bad_entry in message
    assert "environment variable ODOO_QUEUE_JOB_CHANNELS" in message
    assert reason in message


@pytest.mark.parametrize(
    "channels, bad_entry",
    [
        ("root:4,seq:3:sequential", "seq:3:sequential"),
        ("root:-1", "root:-1"),
        ("root:4,t:1:throttle=-5", "t:1:throttle=-5"),
        ("root:4,a:1:sequentail", "a:1:sequentail"),
    ],
)
def test_invalid_channels_from_the_config_file_section(channels, bad_entry):
    with pytest.raises(RunnerConfigError, match=r"\[queue_job\] channels") as excinfo:
        RunnerConfig.from_sources({}, {"channels": channels}, {})
    assert "entry %r" % bad_entry in str(excinfo.value)


def test_unknown_option_without_a_close_name_lists_the_known_ones():
    with pytest.raises(RunnerConfigError) as excinfo:
        RunnerConfig.from_sources({"ODOO_QUEUE_JOB_CHANNELS": "root:1:xyz"}, {}, {})
    message = str(excinfo.value)
    assert "unknown option 'xyz'; known options: sequential, throttle" in message
    assert "did you mean" not in message


@pytest.mark.parametrize(
    "channels",
    ["root:0", "root:4,a:0", "root:4,t:1:throttle=0.5", "root:4,s:1:sequential"],
)
def test_valid_edge_values_are_accepted(channels):
    RunnerConfig.from_sources({"ODOO_QUEUE_JOB_CHANNELS": channels}, {}, {})


@pytest.mark.parametrize("port", ["http", "0", "70000", "-1"])
def test_invalid_port(port):
    with pytest.raises(RunnerConfigError, match="Invalid queue_job runner port"):
        RunnerConfig.from_sources({"ODOO_QUEUE_JOB_PORT": port}, {}, {})


def test_invalid_scheme():
    with pytest.raises(RunnerConfigError, match="scheme 'ftp'"):
        RunnerConfig.from_sources({}, {"scheme": "ftp"}, {})


def test_validation_can_be_skipped_for_database_settings():
    config = RunnerConfig.from_sources(
        {"ODOO_QUEUE_JOB_CHANNELS": "root:x"},
        {"jobrunner_db_host": "h"},
        {},
        validate=False,
    )
    assert config.db_host == "h"


@pytest.mark.parametrize(
    "channels, disabled",
    [
        ("root:0", True),
        ("  root:0,sub:2", True),
        ("root:05", True),  # plain prefix test, as the original
        ("root : 0", False),
        ("root:1", False),
        ("sub:0", False),
    ],
)
def test_disabled_by_root_capacity_zero(channels, disabled):
    assert is_disabled_channels(channels) is disabled
    config = RunnerConfig.from_sources({"ODOO_QUEUE_JOB_CHANNELS": channels}, {}, {})
    assert config.enabled is not disabled


def test_config_file_values_converted_by_odoo_are_accepted():
    # Odoo's config parser turns "true"/"false" into booleans.
    config = RunnerConfig.from_sources({}, {"http_auth_user": False}, {})
    assert config.http_auth_user is None


# -- the adapter to Odoo's configuration --------------------------------------


@pytest.fixture
def odoo_options(monkeypatch):
    """Odoo's options and [queue_job] section, restored after the test."""
    options = odoo.tools.config.options
    misc = odoo.tools.config.misc
    saved_options = dict(options)
    saved_section = misc.get("queue_job")
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    misc["queue_job"] = {}
    yield options, misc["queue_job"]
    options.clear()
    options.update(saved_options)
    if saved_section is None:
        misc.pop("queue_job", None)
    else:
        misc["queue_job"] = saved_section


def test_load_runner_config_reads_odoo(odoo_options, monkeypatch):
    options, section = odoo_options
    options["http_port"] = 9069
    options["http_interface"] = "127.0.0.2"
    section["channels"] = "root:3,mail:1"
    config = runner.load_runner_config()
    assert (config.channels, config.host, config.port) == (
        "root:3,mail:1",
        "127.0.0.2",
        9069,
    )
    assert runner._channels() == "root:3,mail:1"
    assert jobrunner._is_runner_enabled()
    monkeypatch.setenv("ODOO_QUEUE_JOB_CHANNELS", "root:0")
    assert runner._channels() == "root:0"
    assert not jobrunner._is_runner_enabled()
    assert runner.load_runner_config().port == 9069


def test_channels_default(odoo_options):
    assert runner._channels() == "root:1"


def test_connection_info_for(odoo_options, monkeypatch):
    options, section = odoo_options
    options.update(db_host="odoo-db", db_port=5432, db_user="odoo", db_password="pw")
    info = runner._connection_info_for("somedb")
    assert {k: info[k] for k in ("database", "host", "port", "user", "password")} == {
        "database": "somedb",
        "host": "odoo-db",
        "port": 5432,
        "user": "odoo",
        "password": "pw",
    }
    section["jobrunner_db_host"] = "runner-db"
    monkeypatch.setenv("ODOO_QUEUE_JOB_JOBRUNNER_DB_USER", "runner")
    info = runner._connection_info_for("somedb")
    assert (info["host"], info["user"], info["port"], info["password"]) == (
        "runner-db",
        "runner",
        5432,
        "pw",
    )


def test_runner_constructor_arguments(odoo_options):
    job_runner = runner.QueueJobRunner(
        scheme="https",
        host="h",
        port="8443",
        user="u",
        password="p",
        channel_config_string="root:2,a:1",
    )
    config = job_runner.config
    assert (config.scheme, config.host, config.port) == ("https", "h", 8443)
    assert (config.http_auth_user, config.http_auth_password) == ("u", "p")
    assert job_runner.channel_manager.get_channel_by_name("a").capacity == 1
    assert job_runner.channel_manager.get_channel_by_name("root").capacity == 2
    with pytest.raises(RunnerConfigError, match="'b:2:sequential'"):
        runner.QueueJobRunner(channel_config_string="root:2,b:2:sequential")


def test_runner_from_environ_or_config(odoo_options, monkeypatch):
    options, section = odoo_options
    options["http_port"] = 8111
    monkeypatch.setenv("ODOO_QUEUE_JOB_CHANNELS", "root:5")
    job_runner = runner.QueueJobRunner.from_environ_or_config()
    assert job_runner.config.port == 8111
    assert job_runner.channel_manager.get_channel_by_name("root").capacity == 5
    assert job_runner.config.sources["channels"] == (
        "environment variable ODOO_QUEUE_JOB_CHANNELS"
    )


def test_server_environment_section_wins_when_installed(odoo_options, monkeypatch):
    import configparser
    import sys
    import types

    options, section = odoo_options
    section["channels"] = "root:7"
    serv_config = configparser.ConfigParser()
    module = types.ModuleType("odoo.addons.server_environment")
    module.serv_config = serv_config
    monkeypatch.setitem(sys.modules, "odoo.addons.server_environment", module)
    # server_environment without a queue_job section: the file's is ignored
    assert runner.queue_job_section() == {}
    serv_config.add_section("queue_job")
    serv_config.set("queue_job", "channels", "root:6")
    assert runner.queue_job_section() == {"channels": "root:6"}
    assert runner._channels() == "root:6"


def test_module_constants():
    assert runner.SELECT_TIMEOUT == 60
    assert runner.ERROR_RECOVERY_DELAY == 5
    assert jobrunner.START_DELAY == 5
    assert isinstance(jobrunner.queue_job_config, dict)
    assert runner_config.DEFAULT_CHANNELS == "root:1"
