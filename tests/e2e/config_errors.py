"""A bad config is one clear line naming the key, exit status 2, for check-config and serve;
the shipped default config is valid."""
import os
import subprocess
import tempfile
from txmail_harness import *

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
out = subprocess.run([TXMAIL, "check-config", os.path.join(root, "config/txmail.toml")], capture_output=True, text=True)
check(out.returncode == 0, "default config refused: " + out.stderr)
out = subprocess.run([TXMAIL, "--version"], capture_output=True, text=True)
check(out.returncode == 0 and out.stdout.startswith("txmail "), "--version: " + out.stdout)

cases = {
    "[smtp]\nmax_recipents = 3\n": "smtp.max_recipents",
    "[[smtp.listener]]\naddress = \"127.0.0.1:99999\"\n": "smtp.listener[0].address",
    "[[smtp.listener]]\naddress = \"127.0.0.1:25\"\nmode = \"open-relay\"\n": "smtp.listener[0].mode",
    "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n": "tls.cert",
    "[node]\nname = 42\n": "node.name",
    # An invalid internationalized domain would never match: refused, naming the key.
    "[[delivery.route]]\ndomain = \"b\u00fccher-.test\"\nrelay = \"127.0.0.1:25\"\n": "delivery.route[0].domain",
    "[[delivery.policy]]\ndomain = \"xn--zz\u00fc.test\"\n": "delivery.policy[0].domain",
}
for text, key in cases.items():
    path = tempfile.mktemp(suffix=".toml")
    with open(path, "w") as f:
        f.write(text + f'[node]\ndata_dir = "{tempfile.mkdtemp()}"\n' if "[node]" not in text else text)
    for args in (["check-config", path], ["serve", "--config", path]):
        out = subprocess.run([TXMAIL] + args, capture_output=True, text=True, timeout=20)
        lines = out.stderr.strip().splitlines()
        check(out.returncode == 2, f"{args[0]} {key}: exit {out.returncode}")
        check(len(lines) == 1 and key in lines[0], f"{args[0]} {key}: stderr {out.stderr!r}")
print("ok")
