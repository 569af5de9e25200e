"""``storage_options`` for fsspec, as a read-only mapping that never shows its secrets.

Credentials travel with a source reference to sandboxes and dask workers (they need them to
read), but ``repr``/``str`` of :class:`StorageOptions` and every message built with
:func:`redact` show ``***`` in place of any secret-looking value. URLs are shown without
user info and query strings (presigned URLs and SAS tokens carry signatures there).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from chunkpilot.errors import InvalidArgumentError, InvalidArgumentTypeError

#: Option names whose values are credentials (matched as a substring, case-insensitive):
#: s3fs ``key``/``secret``/``token``, botocore ``aws_*_key*``, gcsfs ``token``, adlfs
#: ``account_key``/``sas_token``/``connection_string``/``client_secret``, HTTP ``auth``.
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "sas",
                "signature", "connection_string", "auth")
MASK = "***"
_URL_PARTS = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?:[^/@?#]*@)?(?P<rest>[^?#]*)"
                        r"(?P<query>[?#].*)?$")


def is_secret_name(name: str) -> bool:
    """True when an option of this name holds a credential."""
    low = str(name).lower()
    return any(w in low for w in SECRET_WORDS)


def _redacted(value: Any, name: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(v, name) for v in value)
    if is_secret_name(name) and value not in (None, True, False, ""):
        return MASK
    if isinstance(value, str) and "://" in value:
        return display_url(value)
    return value


def _secret_values(value: Any, name: str = "") -> list[str]:
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in _secret_values(v, str(k))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _secret_values(v, name)]
    if is_secret_name(name) and isinstance(value, (str, bytes)) and len(value) >= 3:
        return [value.decode(errors="replace") if isinstance(value, bytes) else value]
    return []


def display_url(url: str) -> str:
    """``url`` without user info or query string: safe to print."""
    m = _URL_PARTS.match(url)
    if m is None:
        return url
    return m.group("scheme") + m.group("rest") + ("?***" if m.group("query") else "")


class StorageOptions(Mapping[str, Any]):
    """fsspec ``storage_options``, read-only; ``repr`` masks credentials.

    >>> opts = StorageOptions({"key": "AKIA", "secret": "s3cr3t", "endpoint_url": "http://h:9"})
    >>> opts
    StorageOptions({'key': '***', 'secret': '***', 'endpoint_url': 'http://h:9'})
    >>> opts.redact("signature mismatch for s3cr3t")
    'signature mismatch for ***'
    """

    __slots__ = ("_options",)

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        if options is not None and not isinstance(options, Mapping):
            raise InvalidArgumentTypeError(
                f"Expected storage_options as a dict. Got {type(options).__name__} instead.")
        opts = dict(options or {})
        bad = [k for k in opts if not isinstance(k, str) or not k]
        if bad:
            raise InvalidArgumentError(
                "Expected storage option names as strings. Got "
                f"{[type(k).__name__ for k in bad]}.")
        self._options: dict[str, Any] = copy.deepcopy(opts)

    def __getitem__(self, name: str) -> Any:
        return self._options[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __repr__(self) -> str:
        return f"StorageOptions({self.redacted()!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (StorageOptions, (self._options,))

    def __hash__(self) -> int:
        return hash(json.dumps(self._options, sort_keys=True, default=repr))

    def as_dict(self) -> dict[str, Any]:
        """A deep copy of the options, credentials included (for fsspec only)."""
        return copy.deepcopy(self._options)

    def redacted(self) -> dict[str, Any]:
        """The options with every credential replaced by ``***`` (safe for JSON and reports)."""
        return _redacted(self._options)

    def redact(self, text: str) -> str:
        """``text`` with every credential value of these options replaced by ``***``."""
        for secret in sorted(_secret_values(self._options), key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def with_options(self, **extra: Any) -> StorageOptions:
        """A copy with ``extra`` options set (later wins)."""
        return StorageOptions({**self._options, **extra})


def as_storage_options(value: Any) -> StorageOptions | None:
    """``None``, a dict or a :class:`StorageOptions` -> :class:`StorageOptions` (``None`` stays)."""
    if value is None or isinstance(value, StorageOptions):
        return value
    return StorageOptions(value)


def _cli_value(name: str, text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if text.lstrip()[:1] in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(
                f"Expected --storage-option {name}=JSON. Got invalid JSON for {name!r}: {e.msg}."
            ) from None
    if not is_secret_name(name) and re.fullmatch(r"-?\d+", text.strip()):
        return int(text)
    return text


def parse_storage_option_args(pairs: tuple[str, ...] | list[str], anon: bool = False
                              ) -> dict[str, Any] | None:
    """``--storage-option KEY=VALUE`` (repeatable; ``a.b=v`` nests) and ``--anon`` -> a dict.

    Values ``true``/``false``/``null``, JSON objects/lists and integers are converted (a
    credential stays a string); anything else is a string.

    >>> parse_storage_option_args(["endpoint_url=http://h:9", "anon=true",
    ...                            "config_kwargs.retries={\\"max_attempts\\": 1}"])
    {'endpoint_url': 'http://h:9', 'anon': True, 'config_kwargs': {'retries': {'max_attempts': 1}}}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name or any(not part for part in name.split(".")):
            shown = f"{name}=***" if sep and is_secret_name(name) else pair
            raise InvalidArgumentError(
                f"Expected --storage-option KEY=VALUE (e.g. endpoint_url=http://HOST:PORT). "
                f"Got {shown!r} instead.")
        *parents, leaf = name.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InvalidArgumentError(
                    f"Expected --storage-option {name} to nest under a dict. Got a value for "
                    f"{p!r}.")
        node[leaf] = _cli_value(leaf, text)
    if anon:
        out["anon"] = True
    return out or None
