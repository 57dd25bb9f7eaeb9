"""Command-line flags generated from the config models, so each setting is declared once.

A field ``top_k`` of the ``covis`` section becomes ``--covis-top-k``; a top-level field such as
``timestamp_unit`` becomes ``--timestamp-unit``. Flags override values from ``--config FILE``.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from pocket_recs.config import RecommenderConfig, load_config

_PARAM_PREFIX = "cfg__"


@dataclass(frozen=True)
class ConfigFlag:
    """One generated flag and the config field it sets."""

    flag: str
    field_path: tuple[str, ...]
    param_name: str
    annotation: Any
    help: str


def _scalar_type(annotation: Any) -> Any | None:
    """The type of a flag for a field of type ``annotation``, or None if it gets no flag.

    A tuple of strings is given as one comma-separated string.
    """
    origin = typing.get_origin(annotation)
    if origin is typing.Literal or annotation in (int, float, str, bool):
        return annotation
    if origin is tuple and typing.get_args(annotation) == (str, ...):
        return str
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _scalar_type(options[0]) if len(options) == 1 else None
    return None


def config_flags(model: type[BaseModel] = RecommenderConfig, prefix: tuple[str, ...] = ()) -> Iterator[ConfigFlag]:
    """Every scalar field of ``model`` and its nested configs, as flags."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from config_flags(annotation, (*prefix, name))
            continue
        if _scalar_type(annotation) is None:
            continue
        path = (*prefix, name)
        yield ConfigFlag(
            flag="--" + "-".join(path).replace("_", "-").lower(),
            field_path=path,
            param_name=_PARAM_PREFIX + "__".join(path),
            annotation=annotation,
            help=(field.description or "") + f" [config: {'.'.join(path)}; default: {field.default!r}]",
        )


def with_config_flags(
    command: Callable[..., Any] | None = None, *, skip: tuple[str, ...] = ()
) -> Callable[..., Any]:
    """Give ``command`` one option per config field; it receives them as ``config_overrides``.

    The wrapped command must accept a keyword argument ``config_overrides: dict``. Fields named
    in ``skip`` (dotted paths) get no flag, for commands with an option of their own.
    """
    if command is None:
        return lambda wrapped: with_config_flags(wrapped, skip=skip)
    flags = [flag for flag in config_flags() if ".".join(flag.field_path) not in skip]
    signature = inspect.signature(command)
    params = [p for p in signature.parameters.values() if p.name != "config_overrides"]
    for flag in flags:
        python_type = _scalar_type(flag.annotation)
        assert python_type is not None  # config_flags() skips fields without a flag type
        if python_type is bool:
            name = flag.flag[2:]
            option = typer.Option(None, f"--{name}/--no-{name}", help=flag.help, rich_help_panel="Config")
        else:
            option = typer.Option(None, flag.flag, help=flag.help, rich_help_panel="Config")
        params.append(
            inspect.Parameter(
                flag.param_name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=python_type | None,
            )
        )

    def wrapper(**kwargs: Any) -> Any:
        overrides: dict[str, Any] = {}
        for flag in flags:
            value = kwargs.pop(flag.param_name)
            if value is not None and _scalar_type(flag.annotation) is str and typing.get_origin(flag.annotation) is tuple:
                value = tuple(part.strip() for part in value.split(",") if part.strip())
            if value is not None:
                target = overrides
                for part in flag.field_path[:-1]:
                    target = target.setdefault(part, {})
                target[flag.field_path[-1]] = value
        return command(config_overrides=overrides, **kwargs)

    hints = typing.get_type_hints(command, include_extras=True)
    hints.pop("config_overrides", None)
    hints.update({p.name: p.annotation for p in params[len(params) - len(flags):]})
    wrapper.__name__ = command.__name__
    wrapper.__doc__ = command.__doc__
    wrapper.__annotations__ = hints
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p.replace(annotation=hints.get(p.name, p.annotation)) for p in params]
    )
    return wrapper


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_config(config_file: Path | None, overrides: dict[str, Any]) -> RecommenderConfig:
    """The config of ``config_file`` (or the defaults) with command-line ``overrides`` applied."""
    base = load_config(config_file).model_dump() if config_file else {}
    return RecommenderConfig.model_validate(_merge(base, overrides))
