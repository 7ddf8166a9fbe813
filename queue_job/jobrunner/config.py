# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The job runner's configuration, built once and validated before starting.

Every setting comes from the first non-empty of: an environment variable, the
``[queue_job]`` section (of the Odoo configuration file, or of
``server_environment`` when that addon is installed), a related Odoo option,
a built-in default. This module only combines values it is given, so that
it stays free of Odoo imports; ``runner.load_runner_config()`` feeds it from
``os.environ`` and ``odoo.tools.config``.
"""
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Mapping, Optional

from .channels import ChannelManager

DEFAULT_CHANNELS = "root:1"

# name of the RunnerConfig field, environment variable, [queue_job] key,
# Odoo option used as fallback (or None), default.
Setting = namedtuple("Setting", "name env key odoo_option default")

SETTINGS = (
    Setting("channels", "ODOO_QUEUE_JOB_CHANNELS", "channels", None, DEFAULT_CHANNELS),
    Setting("scheme", "ODOO_QUEUE_JOB_SCHEME", "scheme", None, "http"),
    Setting("host", "ODOO_QUEUE_JOB_HOST", "host", "http_interface", "localhost"),
    Setting("port", "ODOO_QUEUE_JOB_PORT", "port", "http_port", "8069"),
    Setting(
        "http_auth_user",
        "ODOO_QUEUE_JOB_HTTP_AUTH_USER",
        "http_auth_user",
        None,
        None,
    ),
    Setting(
        "http_auth_password",
        "ODOO_QUEUE_JOB_HTTP_AUTH_PASSWORD",
        "http_auth_password",
        None,
        None,
    ),
    # The runner's own PostgreSQL connections: when unset, Odoo's db_host,
    # db_port, ... apply (merged in runner._connection_info_for).
    Setting(
        "db_host", "ODOO_QUEUE_JOB_JOBRUNNER_DB_HOST", "jobrunner_db_host", None, None
    ),
    Setting(
        "db_port", "ODOO_QUEUE_JOB_JOBRUNNER_DB_PORT", "jobrunner_db_port", None, None
    ),
    Setting(
        "db_user", "ODOO_QUEUE_JOB_JOBRUNNER_DB_USER", "jobrunner_db_user", None, None
    ),
    Setting(
        "db_password",
        "ODOO_QUEUE_JOB_JOBRUNNER_DB_PASSWORD",
        "jobrunner_db_password",
        None,
        None,
    ),
)

SCHEMES = ("http", "https")


class RunnerConfigError(ValueError):
    """The runner configuration is invalid; the message names the culprit."""


def _non_empty(value):
    if value is None or value is False:
        return None
    value = str(value).strip()
    return value or None


def is_disabled_channels(channels):
    """True when the root channel's capacity is 0 (the runner is disabled).

    A plain prefix test, as in the original: ``root:05`` disables too, while
    ``root : 0`` does not.
    """
    return channels.strip().startswith("root:0")


@dataclass(frozen=True)
class RunnerConfig:
    """All the job runner settings, as typed values."""

    channels: str = DEFAULT_CHANNELS
    scheme: str = "http"
    host: str = "localhost"
    port: int = 8069
    http_auth_user: Optional[str] = None
    http_auth_password: Optional[str] = None
    db_host: Optional[str] = None
    db_port: Optional[str] = None
    db_user: Optional[str] = None
    db_password: Optional[str] = None
    # setting name -> where its value came from, for error messages
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_sources(cls, environ=None, section=None, odoo_options=None, validate=True):
        """Build the configuration; raise RunnerConfigError when it is invalid.

        ``environ``: environment variables; ``section``: the ``[queue_job]``
        mapping; ``odoo_options``: Odoo's options (``http_port``, ...).
        ``validate=False`` skips the checks of ``validate()`` (for callers
        that only need the database settings).
        """
        environ = environ or {}
        section = section or {}
        odoo_options = odoo_options or {}
        values, sources = {}, {}
        for setting in SETTINGS:
            candidates = (
                (environ.get(setting.env), "environment variable %s" % setting.env),
                (section.get(setting.key), "[queue_job] %s" % setting.key),
                (
                    odoo_options.get(setting.odoo_option)
                    if setting.odoo_option
                    else None,
                    "Odoo option %s" % setting.odoo_option,
                ),
                (setting.default, "default"),
            )
            for raw, source in candidates:
                value = _non_empty(raw)
                if value is not None:
                    values[setting.name] = value
                    sources[setting.name] = source
                    break
            else:
                sources[setting.name] = "default"
        values["port"] = cls._parse_port(values["port"], sources["port"])
        config = cls(sources=sources, **values)
        if validate:
            config.validate()
        return config

    @staticmethod
    def _parse_port(value, source):
        try:
            port = int(value)
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            raise RunnerConfigError(
                "Invalid queue_job runner port %r (from %s)" % (value, source)
            )
        return port

    @property
    def enabled(self):
        return not is_disabled_channels(self.channels)

    def validate(self):
        """Check what would otherwise only fail once the runner runs."""
        if self.scheme not in SCHEMES:
            raise RunnerConfigError(
                "Invalid queue_job runner scheme %r (from %s): use http or https"
                % (self.scheme, self.sources.get("scheme", "arguments"))
            )
        self.check_channels(self.channels, self.sources.get("channels", "arguments"))

    @staticmethod
    def check_channels(channels, source="arguments"):
        """Configure a throw-away scheduler entry by entry, naming the bad one."""
        manager = ChannelManager()
        for entry in channels.replace("\n", ",").split(","):
            if not entry.strip():
                continue
            try:
                for config in manager.parse_simple_config(entry):
                    channel = manager.get_channel_by_name(
                        config["name"], autocreate=True
                    )
                    channel.configure(config)
            except ValueError as exc:
                raise RunnerConfigError(
                    "Invalid queue_job channel configuration entry %r in %r "
                    "(from %s): %s" % (entry.strip(), channels, source, exc)
                ) from None
