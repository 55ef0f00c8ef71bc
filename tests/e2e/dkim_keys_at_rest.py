"""DKIM private keys at rest (issue core-3, item 4): generated and imported keys are stored
sealed with AES-256-GCM under the master key, which never enters the config store. After keys
were generated (RSA and Ed25519), imported, used to sign and the node stopped, no private key
appears in clear anywhere under the node's directory (config store and its WAL, spool, event
log, logs): neither as PEM, nor as DER, nor as the raw Ed25519 seed. The master key can also
come from an environment variable, and then no key file is written; with a wrong master key
the node defers mail of that domain instead of sending it unsigned."""
import base64
import sqlite3
import subprocess
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from txmail_harness import *

ACCOUNTS = f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\n'


def unseal(master_hex, sealed, context):
    """The node's sealing, undone with the master key: proves what was sealed is the key."""
    raw = base64.b64decode(sealed[len("v1:"):])
    return AESGCM(bytes.fromhex(master_hex)).decrypt(raw[:12], raw[12:], context.encode())


def forms_of(pem):
    """Every form a private key could leak in: PEM text lines, DER, raw Ed25519 seed."""
    key = serialization.load_pem_private_key(pem, password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    forms = [der, b"PRIVATE KEY"]
    forms += [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    try:
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        forms += [seed, base64.b64encode(seed)]
    except ValueError:
        pass  # RSA has no raw form
    return forms


def scan(directory, forms, skip):
    hits = []
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            if path in skip:
                continue
            with open(path, "rb") as f:
                data = f.read()
            hits += [(path, form[:20]) for form in forms if form in data]
    return hits


with Txmail(extra='[dkim]\ned25519 = true\n', accounts=ACCOUNTS) as tx:
    cli(tx, "domain", "add", "rest.test", "--account", "shop")
    cli(tx, "domain", "add", "import.test", "--account", "shop")
    imported = os.path.join(tx.dir, "imported.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ED25519", "-out", imported], check=True)
    out = subprocess.run([TXMAIL, "dkim", "import", "import.test", "--key", imported, "--config", tx.config],
                         capture_output=True, text=True)
    check(out.returncode == 0, f"import failed: {out.stderr}")
    with open(imported, "rb") as f:
        imported_pem = f.read()
    os.unlink(imported)  # the operator's copy; it must not be the only place the test finds it
    code, text, job = submit_as(tx, "shop", "a@rest.test", ["c@dest.test"], "From: a@rest.test\r\nSubject: s\r\n\r\nx\r\n")
    check(code == 250, f"{code} {text}")
    check(tx.stop() == 0, "txmail did not stop cleanly")

    master_file = os.path.join(tx.data_dir, "master.key")
    check(os.stat(master_file).st_mode & 0o777 == 0o600, "master key file is not private")
    with open(master_file) as f:
        master = f.read().strip()
    db = sqlite3.connect(os.path.join(tx.data_dir, "config.db"))
    rows = db.execute("SELECT key, value FROM kv WHERE key LIKE 'domain/%'").fetchall()
    db.close()
    check(master not in json.dumps(rows), "the master key is in the config store")
    forms = []
    for key, value in rows:
        d = json.loads(value)
        check(len(d["keys"]) >= 2, f"{key}: keys {d['keys']}")
        for k in d["keys"]:
            check(k["sealed_private_key"].startswith("v1:"), f"{key}: not sealed")
            pem = unseal(master, k["sealed_private_key"], f"dkim:{d['name']}:{k['selector']}")
            check(pem.startswith(b"-----BEGIN PRIVATE KEY-----"), "the sealed value is not a key")
            forms += forms_of(pem)
    forms += forms_of(imported_pem)
    check(len(forms) > 20, "nothing to look for")
    hits = scan(tx.dir, forms, skip={master_file})
    check(hits == [], f"private key material in clear: {hits[:5]}")

# The master key from the environment: no key file is created, and keys still work.
os.environ["TXMAIL_TEST_MASTER"] = os.urandom(32).hex()
with Txmail(extra='[dkim]\nmaster_key_env = "TXMAIL_TEST_MASTER"\n', accounts=ACCOUNTS) as tx:
    cli(tx, "domain", "add", "env.test", "--account", "shop")
    code, text, job = submit_as(tx, "shop", "a@env.test", ["c@dest.test"], "From: a@env.test\r\nSubject: s\r\n\r\nx\r\n")
    check(code == 250 and b"d=env.test; s=txm1;" in tx.message(job), "not signed with the env master key")
    check(not os.path.exists(os.path.join(tx.data_dir, "master.key")), "a master key file was written")
    # Restarted with another master key: the keys do not unseal, and mail that should be signed
    # is deferred (451), never sent unsigned.
    check(tx.stop() == 0, "txmail did not stop cleanly")
    os.environ["TXMAIL_TEST_MASTER"] = os.urandom(32).hex()
    tx.start()
    code, text, job = submit_as(tx, "shop", "a@env.test", ["c@dest.test"], "From: a@env.test\r\nSubject: s\r\n\r\nx\r\n")
    check(code == 451 and text.startswith("4.3.0"), f"with a wrong master key: {code} {text}")
    out = cli(tx, "domain", "show", "env.test", ok=False)
    check(out.returncode == 0, f"show needs no usable master key: {out.stderr}")
    check(tx.stop() == 0, "txmail did not stop cleanly")
    check("key cannot be unsealed" in tx.log_text(), "no log line about the unsealing failure")
    # Without its master key at all, the node refuses to start and says why.
    del os.environ["TXMAIL_TEST_MASTER"]
    out = subprocess.run([TXMAIL, "serve", "--config", tx.config], capture_output=True, text=True, timeout=60)
    check(out.returncode != 0 and "TXMAIL_TEST_MASTER is not set" in out.stderr, f"start without key: {out.stderr}")
print("ok")
