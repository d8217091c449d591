"""Who may do what on the staff API: the one table every staff route reads.

Each staff route names one permission (``@require_staff("applications.read")``, app/console/staff.py);
each permission lists the roles that hold it. A role outside the list gets 403
``role_forbidden``. A route naming a permission missing here fails at import, and the tests
walk every route under ``/api/v1/admin`` with every role against this table.
"""

from __future__ import annotations

ROLES = ("viewer", "clerk", "editor", "publisher", "agent", "admin")

_CONTENT_READERS = frozenset({"viewer", "editor", "publisher", "admin"})
# Applications carry citizens' forms and materials: only the roles whose job they are.
_CASEWORKERS = frozenset({"clerk", "admin"})

PERMISSIONS: dict[str, frozenset[str]] = {
    # One's own session: GET /admin/me, POST /admin/logout.
    "session": frozenset(ROLES),
    # Staff accounts and the audit log.
    "staff.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
    # Intents, synonyms, families, the draft, releases and their diffs, clusters of failed questions.
    "intents.read": _CONTENT_READERS,
    "intents.edit": frozenset({"editor", "admin"}),
    # Running the draft engine: test a question, replay the recent questions.
    "intents.test": frozenset({"editor", "publisher", "admin"}),
    "intents.publish": frozenset({"publisher", "admin"}),
    # The hand-off desk: queue, transcripts, claim, reply, release.
    "handoffs": frozenset({"agent", "admin"}),
    # The application queue, one application (form, materials, timeline), and moving it on.
    "applications.read": _CASEWORKERS,
    "applications.transition": _CASEWORKERS,
    # Notification deliveries (they name citizens' applications) and sending one again.
    "deliveries.read": _CASEWORKERS,
    "deliveries.replay": _CASEWORKERS,
    # Importing catalog items (POST /admin/catalog/import): what every worker answers changes at once.
    "catalog.import": frozenset({"publisher", "admin"}),
    # Ratings per item and department (好差评).
    "ratings.read": frozenset(ROLES),
}

# Staff routes that take no staff token: logging in.
PUBLIC_ROUTES = frozenset({("POST", "/api/v1/admin/login")})


def roles_for(permission: str) -> frozenset[str]:
    """The roles holding ``permission``; an unknown permission is a programming error, raised at once."""
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise KeyError(f"unknown staff permission {permission!r}: add it to app/console/roles.py") from None
