"""`shoebox config`: every setting, shared and each service's own, with its environment variable, its current
value (secrets masked) and where that value came from."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from shoebox import routing
from shoebox_lib.settings import Settings

SHARED = "shared"
MASK = "********"
# A setting whose name holds one of these is a secret: its text is never printed.
SECRET_WORDS = ("secret", "password", "key", "token")


class Source(StrEnum):
    ENVIRONMENT = "environment"
    DOTENV = ".env"
    DEFAULT = "default"


@dataclass(frozen=True)
class SettingReport:
    scope: str  # "shared", or the service whose own setting it is
    name: str
    env: str
    value: Any  # as JSON would have it, masked
    default: Any
    source: Source
    description: str


def settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    """The shared settings, then each service's `SETTINGS_CLASS` from `shoebox_<service>.settings`."""
    found: list[tuple[str, type[BaseSettings]]] = [(SHARED, Settings)]
    for service in routing.SERVICES:
        module_name = f"shoebox_{service}.settings"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # a service without settings of its own
                continue
            raise
        cls = getattr(module, "SETTINGS_CLASS", None)
        if not (isinstance(cls, type) and issubclass(cls, BaseSettings)):
            raise TypeError(f"{module_name}.SETTINGS_CLASS must be a pydantic-settings class")
        found.append((service, cls))
    return found


def is_secret(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def mask(name: str, value: Any) -> Any:
    """`value` as it may be printed: a secret's text masked, and credentials inside a URL."""
    if value is None or value == "":
        return value
    if isinstance(value, SecretStr) or (isinstance(value, str) and is_secret(name)):
        return MASK
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def mask_url(url: str) -> str:
    """`postgresql://user:pw@host/db` → `postgresql://user:********@host/db`. A user without a password
    may be a token (NATS takes one that way), so it is masked too; so are secret-named query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if is_secret(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _env_name(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    if alias:
        return alias.upper()
    return (str(cls.model_config.get("env_prefix", "")) + name).upper()


def _dotenv(cls: type[BaseSettings]) -> dict[str, str]:
    """What the class's `.env` files say, when it reads any (later files win, as in pydantic-settings)."""
    env_file = cls.model_config.get("env_file")
    if not env_file:
        return {}
    from dotenv import dotenv_values

    files = [env_file] if isinstance(env_file, str | Path) else list(env_file)
    values: dict[str, str] = {}
    for path in files:
        if Path(path).is_file():
            values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    return values


def _lookup(given: Mapping[str, str], name: str, case_sensitive: bool) -> bool:
    return name in given if case_sensitive else name.lower() in {k.lower() for k in given}


def report(scope: str, cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> list[SettingReport]:
    environ = os.environ if environ is None else environ
    current = cls().model_dump(mode="json")
    dotenv = _dotenv(cls)
    case_sensitive = bool(cls.model_config.get("case_sensitive", False))
    rows = []
    for name, field in cls.model_fields.items():
        env = _env_name(cls, name, field)
        source = (Source.ENVIRONMENT if _lookup(environ, env, case_sensitive)
                  else Source.DOTENV if _lookup(dotenv, env, case_sensitive) else Source.DEFAULT)
        default = field.get_default(call_default_factory=True)
        default = default if default is None or isinstance(default, str | int | float | bool) else str(default)
        rows.append(SettingReport(scope, name, env, mask(name, current[name]), mask(name, default), source,
                                  field.description or ""))
    return rows


def all_settings(environ: Mapping[str, str] | None = None) -> Iterator[SettingReport]:
    for scope, cls in settings_classes():
        yield from report(scope, cls, environ)


def _text(value: Any) -> str:
    return "(not set)" if value is None else str(value)


def render_text(rows: Sequence[SettingReport]) -> str:
    width_env = max((len(r.env) for r in rows), default=0)
    width_value = min(60, max((len(_text(r.value)) for r in rows), default=0))
    blocks = []
    for scope in dict.fromkeys(r.scope for r in rows):
        lines = [f"# {scope}"] + [f"{r.env:<{width_env}}  {_text(r.value):<{width_value}}  ({r.source})"
                                  for r in rows if r.scope == scope]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def render_json(rows: Sequence[SettingReport]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2) + "\n"


def print_config(as_json: bool) -> None:
    try:
        rows = list(all_settings())
    except ValidationError as exc:
        raise SystemExit(f"shoebox config: a setting is invalid:\n{exc}") from exc
    print(render_json(rows) if as_json else render_text(rows), end="")
