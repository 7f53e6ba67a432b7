"""People (``sym.sdk.user``): a user's ``username`` is their e-mail, and users compare by it."""

from __future__ import annotations

import unicodedata
from enum import Enum
from typing import TYPE_CHECKING, Any

from .request_permission import PermissionLevel
from .resource import SymBaseResource

if TYPE_CHECKING:
    import datetime
    import uuid

# Users get stable ids derived from their canonical e-mail, so user_ids() round-trips.
USER_ID_NAMESPACE = "6f6b7c2e-3d0c-5b8a-9a43-0c1d2f7e8a51"
_EMAILS_BY_ID: dict[str, str] = {}


def canonical_email(email: str) -> str:
    """The form identities are compared in: Unicode NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", email).casefold()


def email_for_id(user_id: str) -> str | None:
    """The e-mail of a user whose ``id`` this process handed out."""
    return _EMAILS_BY_ID.get(user_id.lower())


def user_ids(user_list: list[User]) -> list[uuid.UUID]:
    """The ids of ``user_list``, as ``RequestPermission`` takes them."""
    return [user.id for user in user_list]


class UserIdentity(SymBaseResource):
    """A user's account in another service: ``service`` (``slack``), ``service_id``, ``user_id``."""

    def __init__(self, service: str, service_id: str, user_id: str) -> None:
        self._service = service
        self._service_id = service_id
        self._user_id = user_id

    @property
    def service(self) -> str:
        return self._service

    @property
    def service_id(self) -> str:
        return self._service_id

    @property
    def user_id(self) -> str:
        return self._user_id

    def __str__(self) -> str:
        return f"Identity({self._service}: {self._user_id})"

    def __repr__(self) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserIdentity) and (
            (other.service, other.service_id, other.user_id)
            == (self._service, self._service_id, self._user_id)
        )

    def __hash__(self) -> int:
        return hash((self._service, self._service_id, self._user_id))


class UserRole(str, Enum):  # noqa: UP042 (StrEnum is Python 3.11+; hooks run on 3.9)
    """A user's role in hookrunner's ``[roles]``."""

    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"

    def permission_levels(self) -> set[PermissionLevel]:
        if self is UserRole.ADMIN:
            return {PermissionLevel.ADMIN, PermissionLevel.MEMBER, PermissionLevel.ALL_USERS}
        if self is UserRole.MEMBER:
            return {PermissionLevel.MEMBER, PermissionLevel.ALL_USERS}
        return {PermissionLevel.ALL_USERS}


class User(SymBaseResource):
    """A person. ``username`` is the e-mail (as in Sym); equality ignores case and look-alikes."""

    def __init__(
        self,
        email: str,
        role: UserRole | str = UserRole.GUEST,
        identities: dict[str, list[UserIdentity]] | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        type: str = "normal",
    ) -> None:
        self._email = email
        self._role = UserRole(role)
        self._identities = {service: list(ids) for service, ids in (identities or {}).items()}
        self._first_name = first_name
        self._last_name = last_name
        self._type = type

    @property
    def id(self) -> uuid.UUID:
        """A stable id from the canonical e-mail (computed on use: uuid5 needs hashlib)."""
        import uuid

        user_id = uuid.uuid5(uuid.UUID(USER_ID_NAMESPACE), canonical_email(self._email))
        _EMAILS_BY_ID[str(user_id)] = self._email
        return user_id

    @property
    def email(self) -> str:
        return self._email

    @property
    def username(self) -> str:
        return self._email

    @property
    def type(self) -> str:
        return self._type

    @property
    def first_name(self) -> str | None:
        return self._first_name

    @property
    def last_name(self) -> str | None:
        return self._last_name

    @property
    def identities(self) -> dict[str, list[UserIdentity]]:
        return {service: list(ids) for service, ids in self._identities.items()}

    @property
    def role(self) -> UserRole:
        return self._role

    def identity(self, service_type: str, service_id: str | None = None) -> UserIdentity | None:
        """This user's identity in ``service_type`` (for ``service_id``, if given)."""
        from .utils import persisted_identities

        candidates = self._identities.get(service_type, []) + persisted_identities(self._email)
        for candidate in candidates:
            if candidate.service == service_type and service_id in (None, candidate.service_id):
                return candidate
        return None

    def get_event_count(
        self,
        event_name: Any,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        filter_on: str = "flow",
        include_errored: bool = False,
    ) -> int:
        """How many ``event_name`` events this user fired: Sym counted them across the
        user's requests in its hosted runtime. A hook here is handed its own request's
        events only, so a count made from them would miss every other request and a
        policy that limits people by it would let them through: it raises instead."""
        from .errors import SymIntegrationError

        raise SymIntegrationError(
            f"User.get_event_count({event_name!r}): hookrunner gives hooks no history of a"
            " user's events across requests (a flow event carries its own request's only),"
            " so it cannot count them",
            hint="keep such a count in your own store, or decide from this request's fields",
        )

    def __str__(self) -> str:
        identities = [identity for ids in self._identities.values() for identity in ids]
        return f"User(email={self._email}, username={self._email}, identities={identities})"

    def __repr__(self) -> str:
        return f"User({self._email})"

    def __hash__(self) -> int:
        return hash(canonical_email(self._email))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, User) and canonical_email(other.email) == canonical_email(
            self._email
        )


__all__ = ["User", "UserIdentity", "UserRole", "user_ids"]
