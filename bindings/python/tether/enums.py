"""The C enums as Python enums."""

import enum
from typing import Type, TypeVar, Union

E = TypeVar("E", bound=enum.Enum)


class State(enum.IntEnum):
    """Connection states (docs/state-machine.md)."""
    IDLE = 0
    CONNECTING = 1
    ONLINE = 2
    BACKOFF = 3
    SUSPENDED = 4
    CLOSING = 5
    CLOSED = 6

    def __str__(self) -> str:
        return self.name.lower()


class ReasonClass(enum.IntEnum):
    """What a connection does about a failure."""
    NORMAL = 0
    TRANSIENT = 1
    OVERLOAD = 2
    TIMEOUT = 3
    REDIRECT = 4
    FATAL = 5

    def __str__(self) -> str:
        return self.name.lower()


class ReasonKind(enum.IntEnum):
    """The code space of a reason's `code`."""
    LOCAL = 0
    SOCKET = 1
    DNS = 2
    TLS = 3
    HTTP = 4
    WS_CLOSE = 5
    MQTT3 = 6
    MQTT5 = 7


class EventType(enum.IntEnum):
    STATE = 0
    ATTEMPT = 1
    UP = 2
    DOWN = 3
    RETRY = 4
    SUSPEND = 5
    GIVE_UP = 6
    FATAL = 7
    CLOSED = 8
    MESSAGE = 9
    SENT = 10
    RELOAD = 11  # detail: "live", "restart", "added", "removed"
    WARNING = 12  # detail: something to tell, nothing failed
    REMOVED = 13  # the connection's last event (Connection.remove, reload)
    SUBSCRIBE_FAILED = 14  # detail: the topic filter; reason: the code

    def __str__(self) -> str:
        # as tether_event_name(): "give-up"
        return self.name.lower().replace("_", "-")


class Policy(str, enum.Enum):
    """The built-in reconnect policy types (YAML `type:`). Any registered
    type can also be named by its string (tether.policies() lists them)."""
    FIXED = "fixed"
    EXPONENTIAL = "exponential"
    ADAPTIVE = "adaptive"
    BREAKER = "breaker"

    def __str__(self) -> str:
        return self.value


class Overflow(enum.IntEnum):
    """What a full outbound queue does with one more message."""
    DROP_OLDEST = 0
    DROP_NEWEST = 1
    REJECT = 2


class Fsync(enum.IntEnum):
    """When the durable spool calls fsync(2)."""
    ALWAYS = 0
    INTERVAL = 1
    NEVER = 2


def to_enum(cls: Type[E], value: int) -> Union[E, int]:
    """An enum member, or the plain int for a value this binding does not
    know (a newer library)."""
    try:
        return cls(value)
    except ValueError:
        return value
