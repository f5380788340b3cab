"""io is handed a session through io.sessionlike.SessionLike (io sits beside the store, so it does not
import it): the store's Session must have every member it names, with the same signature."""

import inspect

from loom.io.sessionlike import SessionLike
from loom.store import Session

# members whose declared type is looser than Session's own, on purpose
LOOSER = {"bulk": "a context manager (Session's is a generator of itself)"}


def test_session_has_every_member_sessionlike_names_with_its_signature(session):
    assert isinstance(session, SessionLike)
    names = [n for n in vars(SessionLike) if not n.startswith("_")]
    assert "add_node" in names and "current" in names
    for name in names:
        want, have = vars(SessionLike)[name], inspect.getattr_static(Session, name, None)
        if isinstance(want, property):
            assert have is not None or name in ("path", "db"), name  # plain attributes set in __init__
            continue
        assert callable(have), name
        sig_want, sig_have = inspect.signature(want), inspect.signature(have)
        assert list(sig_want.parameters.values()) == list(sig_have.parameters.values()), name
        if name not in LOOSER:
            assert sig_want.return_annotation == sig_have.return_annotation, name
