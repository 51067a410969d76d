"""Client of a Matrix homeserver: the Client-Server API plus Synapse's admin API.

Reconcilers use it to ensure accounts and rooms exist. Every "ensure" call is
idempotent (registering an existing user logs in, creating a room whose alias
exists returns that room), so a reconcile can be re-run after a crash. Failures
raise ``MatrixError``; ``MatrixUnavailable`` marks the temporary ones.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from controller.clients.matrix_http import MatrixError, MatrixHTTP, MatrixSession, MatrixUnavailable, session_from
from controller.clients.matrix_http import segment as _segment
from controller.clients.matrix_rooms import RoomReading

__all__ = ["MatrixClient", "MatrixError", "MatrixSession", "MatrixUnavailable", "get_matrix"]

logger = logging.getLogger(__name__)

_CLIENT = "/_matrix/client/v3"
_ADMIN = "/_synapse/admin"
_DEVICE_NAME = "hiclaw-controller"
_ACTIVE = ("join", "invite")


class MatrixClient(RoomReading):
    """Talks to one homeserver; every request has a timeout of ``timeout`` seconds.

    Reading joined rooms and their history backwards comes from ``RoomReading``.
    """

    def __init__(
        self,
        base_url: str,
        server_name: str,
        *,
        registration_secret: str | None = None,
        registration_token: str | None = None,
        timeout: float = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.server_name = server_name
        self.registration_secret = registration_secret or None
        self.registration_token = registration_token or None
        self._http = MatrixHTTP(self.base_url, timeout)
        self._default_room_version: str | None = None

    def __repr__(self) -> str:
        return f"MatrixClient({self.base_url!r}, {self.server_name!r})"

    def user_id(self, localpart: str) -> str:
        """``@localpart:server_name``; a full user ID is returned unchanged."""
        return localpart if localpart.startswith("@") else f"@{localpart}:{self.server_name}"

    # --- accounts -------------------------------------------------------------------

    def register(
        self, localpart: str, password: str, *, admin: bool = False, display_name: str | None = None
    ) -> MatrixSession:
        """Create the account, or log in to it if it exists (same password).

        With a registration secret this uses Synapse's shared-secret admin
        registration; otherwise the Client-Server registration with the
        registration token (Tuwunel, Conduit). ``admin`` needs the former and
        only applies when the account is created.
        """
        try:
            if secret := self.registration_secret:
                return self._register_with_secret(secret, localpart, password, admin=admin, display_name=display_name)
            if admin:
                logger.warning("matrix: %s registered without server-admin rights (no shared secret)", localpart)
            session = self._register_interactive(localpart, password)
        except MatrixError as exc:
            if exc.errcode != "M_USER_IN_USE":
                raise
            logger.info("matrix: account %s exists, logging in", self.user_id(localpart))
            session = self.login(localpart, password)
        if display_name:
            self.set_display_name(session, display_name)
        return session

    def login(self, localpart_or_user_id: str, password: str) -> MatrixSession:
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart_or_user_id},
            "password": password,
            "initial_device_display_name": _DEVICE_NAME,
        }
        return session_from(self._http.call("POST", f"{_CLIENT}/login", body=body))

    def whoami(self, session: MatrixSession) -> str | None:
        """The user a stored access token belongs to, or None when the token no longer works."""
        try:
            return self._http.call("GET", f"{_CLIENT}/account/whoami", session=session)["user_id"]
        except MatrixUnavailable:
            raise
        except MatrixError as exc:
            if exc.status in (401, 403):
                return None
            raise

    def set_display_name(self, session: MatrixSession, display_name: str) -> None:
        path = f"{_CLIENT}/profile/{_segment(session.user_id)}/displayname"
        self._http.call("PUT", path, session=session, body={"displayname": display_name})

    def _register_with_secret(
        self, secret: str, localpart: str, password: str, *, admin: bool, display_name: str | None
    ) -> MatrixSession:
        nonce = self._http.call("GET", f"{_ADMIN}/v1/register")["nonce"]
        # Synapse's MAC: HMAC-SHA1 over nonce, user, password and admin flag, NUL-separated.
        message = b"\x00".join(p.encode() for p in (nonce, localpart, password, "admin" if admin else "notadmin"))
        mac = hmac.new(secret.encode(), message, hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac}
        if display_name:
            body["displayname"] = display_name
        session = session_from(self._http.call("POST", f"{_ADMIN}/v1/register", body=body))
        logger.info("matrix: registered %s (shared secret, admin=%s)", session.user_id, admin)
        return session

    def _register_interactive(self, localpart: str, password: str) -> MatrixSession:
        """Walk the user-interactive auth stages: the registration token, then any dummy stage."""
        body: dict[str, Any] = {
            "username": localpart,
            "password": password,
            "initial_device_display_name": _DEVICE_NAME,
        }
        for _ in range(4):  # the first reply only lists the flows; Synapse then asks for two stages
            try:
                session = session_from(self._http.call("POST", f"{_CLIENT}/register", body=body))
            except MatrixError as exc:
                if isinstance(exc, MatrixUnavailable) or exc.status != 401 or "flows" not in exc.data:
                    raise
                if "errcode" in exc.data:  # the stage we sent was refused, e.g. a wrong token
                    raise
                body["auth"] = self._next_auth_stage(exc.data)
                continue
            logger.info("matrix: registered %s (registration token)", session.user_id)
            return session
        raise MatrixError(401, "M_FORBIDDEN", "registration did not complete", endpoint=f"POST {_CLIENT}/register")

    def _next_auth_stage(self, challenge: dict) -> dict:
        supported = {"m.login.dummy"} | ({"m.login.registration_token"} if self.registration_token else set())
        done = set(challenge.get("completed", []))
        for flow in challenge["flows"]:
            stages = flow.get("stages", [])
            if set(stages) <= supported:
                stage = next(s for s in stages if s not in done)
                auth = {"type": stage, "session": challenge.get("session")}
                if stage == "m.login.registration_token":
                    auth["token"] = self.registration_token
                return auth
        flows = [flow.get("stages") for flow in challenge["flows"]]
        raise MatrixError(
            401,
            "M_FORBIDDEN",
            f"the homeserver's registration needs {flows}; set HICLAW_MATRIX_REGISTRATION_SECRET "
            "(Synapse) or HICLAW_MATRIX_REGISTRATION_TOKEN",
            endpoint=f"POST {_CLIENT}/register",
        )

    # --- rooms ----------------------------------------------------------------------

    def create_room(
        self,
        session: MatrixSession,
        *,
        name: str,
        alias_localpart: str | None = None,
        topic: str | None = None,
        invite: Iterable[str] = (),
        power_levels: dict[str, int] | None = None,
        direct: bool = False,
        room_version: str | None = None,
    ) -> str:
        """Create a private room and return its ID.

        With an alias this is idempotent: when the alias already resolves, that
        room is returned after making sure the invites and power levels are in
        place. The creator keeps full power; listed users get their level.
        ``room_version`` defaults to the homeserver's.
        """
        invitees = [user for user in invite if user != session.user_id]
        levels = {user: level for user, level in (power_levels or {}).items() if user != session.user_id}
        if alias_localpart:
            room_id = self.resolve_alias(session, alias_localpart)
            if room_id:
                self._converge_room(session, room_id, invitees, levels)
                return room_id
        body: dict[str, Any] = {"name": name, "preset": "private_chat", "visibility": "private", "invite": invitees}
        if direct:
            body["is_direct"] = True
        if topic:
            body["topic"] = topic
        if alias_localpart:
            body["room_alias_name"] = alias_localpart
        if room_version:
            body["room_version"] = room_version
        if levels:
            users = dict(levels)
            if not self._creator_power_is_implicit(session, room_version):
                users[session.user_id] = 100  # older room versions need the creator listed
            body["power_level_content_override"] = {"users": users}
        try:
            room_id = self._http.call("POST", f"{_CLIENT}/createRoom", session=session, body=body)["room_id"]
        except MatrixError as exc:
            # Another reconcile took the alias between our lookup and the create.
            taken = exc.errcode == "M_ROOM_IN_USE"
            room_id = self.resolve_alias(session, alias_localpart) if alias_localpart and taken else None
            if not room_id:
                raise
            self._converge_room(session, room_id, invitees, levels)
            return room_id
        logger.info("matrix: created room %s (%s) for %s", room_id, alias_localpart or name, session.user_id)
        return room_id

    def resolve_alias(self, session: MatrixSession, alias_localpart: str) -> str | None:
        alias = f"#{alias_localpart}:{self.server_name}"
        try:
            return self._http.call("GET", f"{_CLIENT}/directory/room/{_segment(alias)}", session=session)["room_id"]
        except MatrixError as exc:
            if exc.status == 404:
                return None
            raise

    def invite(self, session: MatrixSession, room_id: str, user_id: str) -> None:
        """Invite ``user_id``; a user already invited or joined is left as is."""
        if self.room_members(session, room_id).get(user_id) in _ACTIVE:
            return
        self._http.call("POST", _room(room_id, "invite"), session=session, body={"user_id": user_id})

    def join(self, session: MatrixSession, room_id_or_alias: str) -> str:
        path = f"{_CLIENT}/join/{_segment(room_id_or_alias)}"
        return self._http.call("POST", path, session=session, body={})["room_id"]

    def kick(self, session: MatrixSession, room_id: str, user_id: str, reason: str = "") -> None:
        """Remove ``user_id`` (joined or invited); a user already out is left as is."""
        if self.room_members(session, room_id).get(user_id) not in _ACTIVE:
            return
        body = {"user_id": user_id, "reason": reason} if reason else {"user_id": user_id}
        self._http.call("POST", _room(room_id, "kick"), session=session, body=body)

    def joined_members(self, session: MatrixSession, room_id: str) -> set[str]:
        return set(self._http.call("GET", _room(room_id, "joined_members"), session=session)["joined"])

    def room_members(self, session: MatrixSession, room_id: str) -> dict[str, str]:
        """Every user the room knows, with their membership (join, invite, leave, ban, knock)."""
        chunk = self._http.call("GET", _room(room_id, "members"), session=session)["chunk"]
        return {event["state_key"]: event["content"]["membership"] for event in chunk}

    def power_levels(self, session: MatrixSession, room_id: str) -> dict:
        return self._http.call("GET", _room(room_id, "state/m.room.power_levels"), session=session)

    def set_power_levels(self, session: MatrixSession, room_id: str, users: dict[str, int]) -> None:
        """Give each listed user their level; other users keep theirs. Sends nothing when all match."""
        content = self.power_levels(session, room_id)
        current = content.get("users", {})
        if all(current.get(user) == level for user, level in users.items()):
            return
        content["users"] = {**current, **users}
        self._http.call("PUT", _room(room_id, "state/m.room.power_levels"), session=session, body=content)

    def _converge_room(self, session: MatrixSession, room_id: str, invitees: list[str], levels: dict[str, int]) -> None:
        members = self.room_members(session, room_id)
        for user in invitees:
            if members.get(user) not in _ACTIVE:
                self._http.call("POST", _room(room_id, "invite"), session=session, body={"user_id": user})
        if levels:
            self.set_power_levels(session, room_id, levels)

    def _creator_power_is_implicit(self, session: MatrixSession, room_version: str | None) -> bool:
        """Room version 12 gives creators unlimited power and forbids listing them in ``users``."""
        if room_version is None and self._default_room_version is None:
            capabilities = self._http.call("GET", f"{_CLIENT}/capabilities", session=session).get("capabilities", {})
            self._default_room_version = str(capabilities.get("m.room_versions", {}).get("default", "1"))
        version = room_version or self._default_room_version or "1"
        return version == "org.matrix.hydra.11" or (version.isdigit() and int(version) >= 12)

    # --- messages -------------------------------------------------------------------

    def send_message(
        self,
        session: MatrixSession,
        room_id: str,
        body: str,
        *,
        mentions: Iterable[str] = (),
        txn_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Send an ``m.text`` message and return its event ID.

        Mentioned users get ``m.mentions`` and an HTML pill; those not already
        named in ``body`` are put in front of it, since agents read the plain
        body. The transaction ID makes a resend (after a 429, or by a caller
        that passes its own ``txn_id``) return the first event, not a duplicate.
        """
        mentioned = list(dict.fromkeys(mentions))
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if mentioned:
            missing = [user for user in mentioned if user not in body]
            text = " ".join([*missing, body]) if missing else body
            formatted = html.escape(text)
            for user in mentioned:
                pill = f'<a href="https://matrix.to/#/{html.escape(user)}">{html.escape(user)}</a>'
                formatted = formatted.replace(html.escape(user), pill)
            content.update(
                body=text,
                format="org.matrix.custom.html",
                formatted_body=formatted.replace("\n", "<br>"),
                **{"m.mentions": {"user_ids": mentioned}},
            )
        # Keys for programs (a notice's ``io.hiclaw.notice``) ride along with the text.
        content.update(extra or {})
        path = _room(room_id, f"send/m.room.message/{_segment(txn_id or uuid.uuid4().hex)}")
        return self._http.call("PUT", path, session=session, body=content)["event_id"]

    def messages(self, session: MatrixSession, room_id: str, *, limit: int = 100) -> Iterator[dict]:
        """Every event of the room visible to ``session``, oldest first, ``limit`` per request.

        Pages forward (``dir=f``) from the start of the room, following each
        page's ``end`` token until the server omits it, so a long room streams
        without being held in memory.
        """
        params: dict[str, Any] = {"dir": "f", "limit": limit}
        path = _room(room_id, "messages")
        while True:
            page = self._http.call("GET", path, session=session, params=params)
            yield from page.get("chunk", [])
            end = page.get("end")
            if not end or end == params.get("from"):
                return
            params["from"] = end

    # --- Synapse admin API ----------------------------------------------------------

    def user_info(self, admin_session: MatrixSession, user_id: str) -> dict:
        """The homeserver's record of the account (``deactivated``, ``admin`` …); 404 raises."""
        return self._http.call("GET", f"{_ADMIN}/v2/users/{_segment(user_id)}", session=admin_session)

    def user_exists(self, admin_session: MatrixSession, user_id: str) -> bool:
        try:
            self.user_info(admin_session, user_id)
        except MatrixError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def deactivate(self, admin_session: MatrixSession, user_id: str, *, erase: bool = False) -> None:
        """Deactivate the account (leaving its rooms); an absent or already deactivated account is fine."""
        try:
            info = self.user_info(admin_session, user_id)
        except MatrixError as exc:
            if exc.status == 404:
                return
            raise
        if info.get("deactivated") and (info.get("erased") or not erase):
            return
        self._http.call(
            "POST", f"{_ADMIN}/v1/deactivate/{_segment(user_id)}", session=admin_session, body={"erase": erase}
        )
        logger.info("matrix: deactivated %s (erase=%s)", user_id, erase)


def _room(room_id: str, endpoint: str) -> str:
    return f"{_CLIENT}/rooms/{_segment(room_id)}/{endpoint}"


def get_matrix() -> MatrixClient | None:
    """The homeserver client configured by the settings, or None when Matrix is disabled.

    ``HICLAW_MATRIX_URL`` unset disables Matrix: the reconcile steps that need
    it report "disabled" instead of failing.
    """
    if not settings.HICLAW_MATRIX_URL:
        return None
    if not settings.HICLAW_MATRIX_DOMAIN:
        raise ImproperlyConfigured(
            "HICLAW_MATRIX_DOMAIN must be set when HICLAW_MATRIX_URL is: it is the server name "
            "in Matrix user IDs (the part after ':'), e.g. matrix.example.org"
        )
    return MatrixClient(
        settings.HICLAW_MATRIX_URL,
        settings.HICLAW_MATRIX_DOMAIN,
        registration_secret=settings.HICLAW_MATRIX_REGISTRATION_SECRET,
        registration_token=settings.HICLAW_MATRIX_REGISTRATION_TOKEN,
    )
