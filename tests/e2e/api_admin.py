"""Administration and authentication over the REST API (issue core-4, items 1, 2 and 7): the
API answers over HTTP and HTTPS; the admin token guards /v2/admin; accounts are created with SMTP credentials and an API key shown
once (stored hashed); Basic and Bearer authentication; keys are listed by id and revoked;
disabled accounts are refused; per-account API source addresses; deleting an account removes
its keys and domains; errors are problem+json; limits on headers, bodies and methods; the
`txmail account|key|send` commands work over the same API."""
import socket
from http.client import HTTPConnection
import subprocess
from txmail_harness import *


def problem(r, status, what):
    check(r.status == status, f"{what}: {r}")
    check(r.headers.get("content-type") == "application/problem+json", f"{what}: {r.headers}")
    check(r.json["status"] == status and r.json["type"].startswith("/problems/") and r.json["title"], f"{what}: {r.json}")
    return r.json


def api_cli(tx, *args, ok=True):
    out = subprocess.run([TXMAIL, *args, "--api", f"http://127.0.0.1:{tx.ports['http']}", "--json"],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, TXMAIL_TOKEN=admin_token(tx)))
    if not ok:
        return out
    check(out.returncode == 0, f"txmail {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout)


with Txmail(http_settings='max_connections = 50\nlisten_tls = "127.0.0.1:0"', tls_files=True,
            extra="[dns]\nservers = [\"127.0.0.1:9\"]\n") as tx:
    token = admin_token(tx)
    check(len(token) >= 32, "admin token")
    r = http(tx, "GET", "/healthz")
    check(r.status == 200 and r.json == {"status": "ok"}, f"healthz {r}")
    check(http(tx, "GET", "/readyz").status == 200, "readyz")
    # HTTPS with the [tls] certificate, beside plain HTTP.
    r = http(tx, "GET", "/v2/domains", user="alice", tls=True)
    check(r.status == 200 and r.json == {"domains": []}, f"over HTTPS: {r}")

    # The admin endpoints want the admin token, nothing else.
    j = problem(http(tx, "GET", "/v2/admin/accounts"), 401, "no credentials")
    check("WWW-Authenticate".lower() in http(tx, "GET", "/v2/admin/accounts").headers, "no WWW-Authenticate")
    problem(http(tx, "GET", "/v2/admin/accounts", token="wrong-token-" + "x" * 30), 401, "a wrong token")
    problem(http(tx, "GET", "/v2/admin/accounts", user="alice"), 403, "an account's credentials")
    listed = http(tx, "GET", "/v2/admin/accounts", token=token)
    check(listed.status == 200 and {a["name"] for a in listed.json["accounts"]} == {"alice", "relayer"}, f"{listed}")

    # Create: validation with paths, then the account with its secrets shown once.
    j = problem(http(tx, "POST", "/v2/admin/accounts", {"name": "bad name!", "allowIps": ["nonsense"], "extra": 1},
                     token=token), 400, "invalid account")
    check({e["path"] for e in j["errors"]} == {"name", "allowIps[0]", "extra"}, f"{j}")
    created = http(tx, "POST", "/v2/admin/accounts", {"name": "acme", "apiAllowIps": ["127.0.0.1/32"]}, token=token)
    check(created.status == 201 and created.headers["location"] == "/v2/admin/accounts/acme", f"{created}")
    acme_password = created.json["password"]
    acme_key = created.json["apiKey"]["key"]
    check(len(acme_password) >= 16 and acme_key.startswith("txm_") and len(acme_key) == 47, f"{created.json}")
    problem(http(tx, "POST", "/v2/admin/accounts", {"name": "acme"}, token=token), 409, "a second acme")
    with open(os.path.join(tx.data_dir, "config.db"), "rb") as f:
        db = f.read()
    check(acme_key.encode() not in db and acme_key[4:].encode() not in db, "the API key is stored in clear")
    check(acme_password.encode() not in db, "the password is stored in clear")
    shown = http(tx, "GET", "/v2/admin/accounts/acme", token=token).json
    check("password" not in shown and "apiKey" not in shown and "password_hash" not in json.dumps(shown), f"{shown}")

    # Basic and Bearer authentication; SMTP AUTH with the generated password.
    check(http(tx, "GET", "/v2/domains", key=acme_key).status == 200, "Bearer API key")
    check(http(tx, "GET", "/v2/domains", user="acme", password=acme_password).status == 200, "Basic")
    problem(http(tx, "GET", "/v2/domains", user="acme", password="wrong-password"), 401, "a wrong password")
    problem(http(tx, "GET", "/v2/domains", key="txm_" + "A" * 43), 401, "an unknown key")
    d = Dialog(tx.ports["submission"])
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.starttls()
    d.cmd("EHLO client.test", 250)
    d.cmd("AUTH PLAIN " + auth_plain("acme", acme_password), 235)
    d.cmd("QUIT", 221)
    # apiAllowIps: the same credentials from another address are refused.
    j = problem(http(tx, "GET", "/v2/domains", key=acme_key, source="127.0.0.9"), 403, "from outside apiAllowIps")
    check("127.0.0.9" in j["detail"], f"{j}")

    # Keys: list by id (never the secret), revoke.
    second = http(tx, "POST", "/v2/admin/accounts/acme/keys", {"name": "deploy"}, token=token)
    check(second.status == 201, f"{second}")
    keys = http(tx, "GET", "/v2/admin/accounts/acme/keys", token=token).json["keys"]
    check(sorted(k["name"] for k in keys) == ["deploy", "initial"] and all("key" not in k for k in keys), f"{keys}")
    check(http(tx, "DELETE", f"/v2/admin/accounts/acme/keys/{second.json['id']}", token=token).status == 204, "revoke")
    problem(http(tx, "GET", "/v2/domains", key=second.json["key"]), 401, "a revoked key")
    problem(http(tx, "DELETE", f"/v2/admin/accounts/alice/keys/{created.json['apiKey']['id']}", token=token), 404,
            "another account's key")
    check(http(tx, "GET", "/v2/domains", key=acme_key).status == 200, "the other key still works")

    # Disabled accounts are refused everywhere; enabled again, they work.
    check(http(tx, "POST", "/v2/admin/accounts/acme/disable", token=token).json["disabled"], "disable")
    problem(http(tx, "GET", "/v2/domains", key=acme_key), 401, "a disabled account's key")
    problem(http(tx, "GET", "/v2/domains", user="acme", password=acme_password), 401, "a disabled account's password")
    problem(http(tx, "POST", "/v2/jobs", {"subject": "x"}, token=token, headers={"X-Txmail-Account": "acme"}), 403,
            "the operator sending for a disabled account")
    check(not http(tx, "POST", "/v2/admin/accounts/acme/enable", token=token).json["disabled"], "enable")
    check(http(tx, "GET", "/v2/domains", key=acme_key).status == 200, "enabled again")

    # Tenants: acme's domain is not alice's; the operator sees every domain.
    check(http(tx, "POST", "/v2/domains", {"domain": "acme.test"}, key=acme_key).status == 201, "domain add")
    problem(http(tx, "GET", "/v2/domains/acme.test", user="alice"), 404, "another account's domain")
    problem(http(tx, "DELETE", "/v2/domains/acme.test", user="alice"), 404, "deleting another account's domain")
    check([x["name"] for x in http(tx, "GET", "/v2/domains", token=token).json["domains"]] == ["acme.test"], "operator")
    # Deleting the account removes its keys and domains.
    check(http(tx, "DELETE", "/v2/admin/accounts/acme", token=token).status == 204, "delete")
    problem(http(tx, "GET", "/v2/domains", key=acme_key), 401, "a deleted account's key")
    check(http(tx, "GET", "/v2/domains", token=token).json["domains"] == [], "its domain stayed")
    problem(http(tx, "GET", "/v2/admin/accounts/acme", token=token), 404, "a deleted account")

    # HTTP-level refusals.
    r = http(tx, "PUT", "/v2/jobs", {}, user="alice")
    problem(r, 405, "PUT /v2/jobs")
    check(r.headers["allow"] == "POST", f"{r.headers}")
    problem(http(tx, "GET", "/v2/nothing-here", user="alice"), 404, "an unknown path")
    problem(http(tx, "POST", "/v2/jobs", {"x": 1}, token=token), 403, "the admin token without X-Txmail-Account")
    problem(http(tx, "GET", "/v2/domains", user="alice", headers={"X-Big": "y" * 20000}), 431, "a huge header")
    s = socket.create_connection(("127.0.0.1", tx.ports["http"]))
    s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    check(s.recv(1000).startswith(b"HTTP/1.1 400"), "garbage gets 400")
    s.close()
    # Keep-alive: two requests on one connection.
    c = HTTPConnection("127.0.0.1", tx.ports["http"], timeout=10)
    for _ in range(2):
        c.request("GET", "/healthz")
        res = c.getresponse()
        check(res.status == 200 and res.read() == b'{"status":"ok"}', "keep-alive")
    c.close()

    # Guessing is limited per address (shared with SMTP AUTH): after 10 failures the address is
    # refused before any check, even with the right password; other addresses are unaffected.
    for _ in range(10):
        problem(http(tx, "GET", "/v2/domains", user="alice", password="guess", source="127.0.0.12"), 401, "a guess")
    j = problem(http(tx, "GET", "/v2/domains", user="alice", source="127.0.0.12"), 429, "a blocked address")
    check("failed authentications" in j["detail"], f"{j}")
    check(http(tx, "GET", "/v2/domains", user="alice", source="127.0.0.13").status == 200, "another address")

    # The same through the command line.
    made = api_cli(tx, "account", "create", "cliacct", "--password", "a-long-password-1", "--hourly-limit", "100")
    check(made["name"] == "cliacct" and made["hourlyLimit"] == 100 and made["apiKey"]["key"].startswith("txm_"), f"{made}")
    check("cliacct" in [a["name"] for a in api_cli(tx, "account", "list")["accounts"]], "account list")
    check(api_cli(tx, "account", "disable", "cliacct")["disabled"], "account disable")
    out = api_cli(tx, "account", "create", "cliacct", ok=False)
    check(out.returncode == 1 and "409" in out.stderr, f"duplicate over the CLI: {out.stderr}")
    k = api_cli(tx, "key", "create", "--account", "alice", "--name", "ops")
    check(k["key"].startswith("txm_"), f"{k}")
    check(http(tx, "GET", "/v2/domains", key=k["key"]).status == 200, "a CLI-made key works")
    api_cli(tx, "key", "revoke", "--account", "alice", k["id"])
    check(http(tx, "GET", "/v2/domains", key=k["key"]).status == 401, "a CLI-revoked key")
    attach = os.path.join(tx.dir, "report.pdf")
    with open(attach, "wb") as f:
        f.write(b"%PDF-1.4 test")
    sent = api_cli(tx, "send", "--account", "alice", "--from", "a@sender.test", "--to", "x@dest.test",
                   "--subject", "CLI test", "--text", "hello from the CLI", "--attach", attach)
    check([r["status"] for r in sent["recipients"]] == ["ACCEPTED"], f"{sent}")
    raw = tx.message(sent["jobId"])
    check(b"Subject: CLI test" in raw and b'filename="report.pdf"' in raw and b"Content-Type: application/pdf" in raw, raw[:600])
    out = subprocess.run([TXMAIL, "account", "list", "--api", "http://127.0.0.1:1"], capture_output=True, text=True)
    check(out.returncode == 1 and "cannot connect" in out.stderr, f"unreachable API: {out.stderr}")
print("ok")
