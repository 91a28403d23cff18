"""Helpers for the web app's tests: a browser-like client signed in as a role.

`signed_in(client, session, role)` creates a user, signs in through the real form (the
login CSRF cookie, the password check, the session cookie) and returns the session's CSRF
token, which forms must echo. The client keeps the cookies, as a browser does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from patron.auth import service as auth_service
from patron.auth.schemas import Role, UserCreate

PASSWORD = "correct horse battery staple"
HTML = {"Accept": "text/html"}


@dataclass
class Login:
    email: str
    csrf: str
    user_id: int


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert found is not None, "no csrf meta tag in the page"
    return found.group(1)


def login_csrf(client: TestClient) -> str:
    page = client.get("/login", headers=HTML)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def signed_in(
    client: TestClient, session: Session, role: Role, *, email: str | None = None,
    locale: str = "en",
) -> Login:  # fmt: skip
    email = email or f"{role.value}@shop.test"
    user = auth_service.create_user(
        session,
        data=UserCreate(email=email, password=PASSWORD, role=role, name=role.value.title(),
                        locale=locale),
    )  # fmt: skip
    session.commit()
    token = login_csrf(client)
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/settings"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/account", headers=HTML)  # every role has its own account page
    assert page.status_code == 200, page.text
    return Login(email=email, csrf=csrf_of(page.text), user_id=user.id)


@pytest.fixture
def browser(session: Session) -> Iterator[Callable[[], TestClient]]:
    """A factory of independent clients (one cookie jar each), all closed afterwards."""
    from patron.app import create_app

    opened: list[TestClient] = []

    def new() -> TestClient:
        c = TestClient(create_app(), raise_server_exceptions=False, follow_redirects=False)
        c.__enter__()
        opened.append(c)
        return c

    yield new
    for c in opened:
        c.__exit__(None, None, None)
