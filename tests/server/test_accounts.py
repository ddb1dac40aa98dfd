"""Accounts and personal tokens as API.md describes them."""
from __future__ import annotations


def test_signup_token_and_me(client):
    r = client.post("/api/v1/accounts", json={"email": "Ada@Example.org", "password": "long enough pw", "name": "Ada"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["email"] == "ada@example.org" and body["name"] == "Ada" and "password" not in str(body)
    r = client.post("/api/v1/auth/tokens", json={"email": "ada@example.org", "password": "long enough pw"})
    assert r.status_code == 201
    token = r.get_json()["token"]
    me = client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["email"] == "ada@example.org"


def test_email_taken_is_409_problem(client):
    payload = {"email": "bob@example.org", "password": "long enough pw", "name": "Bob"}
    assert client.post("/api/v1/accounts", json=payload).status_code == 201
    r = client.post("/api/v1/accounts", json={**payload, "email": "BOB@example.org"})
    assert r.status_code == 409
    assert r.mimetype == "application/problem+json" and r.get_json()["code"] == "email_taken"


def test_bad_credentials_and_bad_bodies(client, make_user):
    user = make_user("carol")
    r = client.post("/api/v1/auth/tokens", json={"email": user.email, "password": "wrong password"})
    assert r.status_code == 401 and r.get_json()["code"] == "bad_credentials"
    r = client.post("/api/v1/accounts", json={"email": "not-an-email", "password": "x" * 12, "name": "X"})
    assert r.status_code == 422 and "email" in r.get_json()["errors"]
    r = client.post("/api/v1/accounts", data="nonsense", content_type="application/json")
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_body"
    r = client.post("/api/v1/accounts", json={"email": "d@example.org", "password": "short", "name": "D"})
    assert r.status_code == 422 and r.get_json()["code"] == "weak_password"


def test_tokens_are_stored_hashed_and_revocable(app, client, make_user):
    from sqlalchemy import select

    from server.accounts.models import ApiToken

    user = make_user("dora")
    with app.extensions["cosmoloc.db"].session() as s:
        stored = [t.token_hash for t in s.scalars(select(ApiToken))]
    assert user.token not in stored and all(len(h) == 64 for h in stored)
    tokens = user.get("/api/v1/auth/tokens").get_json()["items"]
    assert tokens and tokens[0]["prefix"] == user.token[:10]
    assert client.delete(f"/api/v1/auth/tokens/{tokens[0]['id']}", headers=user.headers).status_code == 204
    r = user.get("/api/v1/account")
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_token"


def test_garbage_token_is_401(client):
    r = client.get("/api/v1/account", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert client.get("/api/v1/account").status_code == 401


def test_anonymous_idempotency_key_is_not_honoured(client):
    """API.md "Limits and refusals": keys are scoped to the account, so a sign-up's key replays nothing."""
    payload = {"email": "eve@example.org", "password": "long enough pw", "name": "Eve"}
    first = client.post("/api/v1/accounts", json=payload, headers={"Idempotency-Key": "k1"})
    again = client.post("/api/v1/accounts", json=payload, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201
    assert again.status_code == 409 and again.get_json()["code"] == "email_taken"


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3")
    assert "/api/v1/designs" in doc["paths"] and "/api/v1/validate" in doc["paths"]
