"""Prompt fields and the options of a ``@prefetch`` reducer (``sym.sdk.forms``)."""

from __future__ import annotations

from collections import OrderedDict
from enum import Enum
from typing import Any

from .exceptions import SDKError

# Slack caps option labels and values at this many characters.
MAX_OPTION_LENGTH = 55


class FieldType(str, Enum):  # noqa: UP042 (StrEnum is Python 3.11+; hooks run on 3.9)
    STRING = "string"
    INT = "int"
    BOOL = "bool"
    DURATION = "duration"
    SLACK_USER = "slack_user"
    SLACK_USER_LIST = "slack_user_list"
    STR_LIST = "str_list"
    INT_LIST = "int_list"


class FieldOption:
    """One choice of a prompt field: the ``value`` submitted and the ``label`` shown."""

    def __init__(self, value: Any, label: str) -> None:
        if value is None or len(str(value)) > MAX_OPTION_LENGTH:
            raise SDKError("INVALID_OPTION", f"an option value must be 1-55 characters: {value!r}")
        if not isinstance(label, str) or len(label) > MAX_OPTION_LENGTH:
            raise SDKError("INVALID_OPTION", f"an option label must be 0-55 characters: {label!r}")
        self.value = value
        self.label = label

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldOption) and (other.value, other.label) == (
            self.value,
            self.label,
        )

    def __hash__(self) -> int:
        return hash((str(self.value), self.label))

    def __repr__(self) -> str:
        return f"FieldOption(value={self.value!r}, label={self.label!r})"


class SlackUserSelection:
    def __init__(self, user_id: str, username: str | None = None) -> None:
        self.user_id = user_id
        self.username = username


class PromptField:
    """A prompt field of the flow (``[[fields]]`` of ``flow.toml``)."""

    def __init__(
        self,
        name: str,
        type: str = "string",
        value: Any = None,
        label: str | None = None,
        required: bool = True,
        allowed_values: list[Any] | None = None,
        visible: bool = True,
        default: Any = None,
        prefetch: bool = False,
    ) -> None:
        self.name = name
        self.type = type
        self.value = value
        self.label = label
        self.required = required
        self.allowed_values = list(allowed_values or [])
        self.visible = visible
        self.default = default
        self.prefetch = prefetch

    @property
    def current_allowed_values(self) -> list[FieldOption]:
        return [FieldOption(value, str(value)) for value in self.allowed_values]

    @property
    def original_allowed_values(self) -> list[FieldOption]:
        return self.current_allowed_values

    def __repr__(self) -> str:
        return f"PromptField({self.name!r}, type={self.type!r})"


class SymPromptForm:
    def __init__(
        self,
        fields: OrderedDict[str, PromptField],
        flow_vars: dict[str, str] | None = None,
        additional_header_text: str | None = None,
    ) -> None:
        self.fields = fields
        self.flow_vars = dict(flow_vars or {})
        self.additional_header_text = additional_header_text


__all__ = ["FieldOption", "FieldType", "PromptField", "SlackUserSelection", "SymPromptForm"]
