# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Channel settings: the configuration string, and what channel records set.

Pure functions, shared by the scheduler (``channels``) and the validation of
the runner's configuration (``config``).
"""
import difflib
import math

# The options a channel configuration entry may carry after its capacity.
CHANNEL_OPTIONS = ("sequential", "throttle")


def _unknown_option_message(key):
    message = "unknown option %r" % key
    close = difflib.get_close_matches(key, CHANNEL_OPTIONS, n=1, cutoff=0.6)
    if close:
        message += " (did you mean %r?)" % close[0]
    return message + "; known options: %s" % ", ".join(CHANNEL_OPTIONS)


def _parse_throttle(value):
    """Seconds between two starts; a bare ``throttle`` means one second."""
    if value is True:
        return 1
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            "invalid throttle %r: a number of seconds is expected" % value
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            "invalid throttle %r: it must be a positive number of seconds" % value
        )
    return int(seconds) if seconds.is_integer() else seconds


def validate_channel_config(config):
    """Check one parsed entry (see ``parse_simple_config``); return it typed.

    Everything is checked here rather than when jobs arrive: a negative
    capacity or a misspelled option would otherwise be accepted and leave
    a channel that never starts a job, or not the way it was meant to.
    """
    unknown = sorted(set(config) - {"name", "capacity"} - set(CHANNEL_OPTIONS))
    if unknown:
        raise ValueError(_unknown_option_message(unknown[0]))
    capacity = config.get("capacity")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0
    ):
        raise ValueError(
            "invalid capacity %r: it must be an integer, 0 or more" % (capacity,)
        )
    sequential = bool(config.get("sequential", False))
    if sequential and capacity != 1:
        raise ValueError("A sequential channel must have a capacity of 1")
    throttle = _parse_throttle(config["throttle"]) if "throttle" in config else 0
    return dict(config, capacity=capacity, sequential=sequential, throttle=throttle)


# The settings a channel record may set, and what "not set" is for each: the
# configuration's value then applies.
RECORD_SETTINGS = ("capacity", "sequential", "throttle", "paused")


def record_settings(capacity=None, sequential=False, throttle=None, paused=False):
    """The settings a channel record sets, without those it leaves unset.

    A capacity or throttle of 0 (or empty) and an unticked ``sequential``
    are "not set": the configuration's value applies; ``paused`` has no
    counterpart in the configuration.
    """
    settings = {}
    if capacity:
        settings["capacity"] = capacity
    if sequential:
        settings["sequential"] = True
    if throttle:
        settings["throttle"] = throttle
    if paused:
        settings["paused"] = True
    return settings


def effective_settings(name, file_settings, record):
    """Merge a channel's configuration with what its record sets.

    ``file_settings`` is ``{capacity, sequential, throttle}`` of the
    configuration (or of an unconfigured channel), ``record`` the output of
    ``record_settings``. Returns the typed settings plus ``paused`` and
    ``sources`` (setting -> ``"record"`` or ``"configuration"``); raises
    ``ValueError`` when the record's values cannot apply (e.g. sequential
    over a capacity other than 1).
    """
    unknown = sorted(set(record) - set(RECORD_SETTINGS))
    if unknown:
        raise ValueError("unknown channel setting %r" % unknown[0])
    merged = {
        "name": name,
        "capacity": file_settings.get("capacity"),
        "sequential": bool(file_settings.get("sequential")),
        "throttle": file_settings.get("throttle") or 0,
    }
    merged.update((key, record[key]) for key in merged if key in record)
    if not merged["throttle"]:
        del merged["throttle"]
    result = validate_channel_config(merged)
    result["paused"] = bool(record.get("paused"))
    result["sources"] = {
        key: "record" if key in record else "configuration" for key in RECORD_SETTINGS
    }
    return result


def split_strip(s, sep, maxsplit=-1):
    """``str.split`` then ``strip`` of every part."""
    return [x.strip() for x in s.split(sep, maxsplit)]


def parse_config_string(config_string):
    """Parse a channel configuration string into a list of dicts.

    Each error names the offending entry, e.g. ``root:x`` gives
    ``Invalid channel config root:x: invalid capacity x``.
    """
    res = []
    for entry in split_strip(config_string.replace("\n", ","), ","):
        if not entry:
            continue
        res.append(_parse_config_entry(entry))
    return res


def _parse_config_entry(entry):
    items = split_strip(entry, ":")
    name = items[0]
    if not name:
        raise ValueError("Invalid channel config %s: missing channel name" % entry)
    config = {"name": name}
    if len(items) == 1:
        config["capacity"] = 1
        return config
    try:
        config["capacity"] = int(items[1])
    except ValueError:
        raise ValueError(
            "Invalid channel config %s: invalid capacity %s" % (entry, items[1])
        ) from None
    for item in items[2:]:
        key_value = split_strip(item, "=")
        if len(key_value) == 1:
            key, value = key_value[0], True
        elif len(key_value) == 2:
            key, value = key_value
        else:
            raise ValueError(
                "Invalid channel config %s: incorrect config item %s" % (entry, item)
            )
        if key in config:
            raise ValueError(
                "Invalid channel config %s: duplicate key %s" % (entry, key)
            )
        config[key] = value
    return config
