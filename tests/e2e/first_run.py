"""The first run (issue console-1, item 4): the demo account of config/txmail.toml, the
configuration `make run` starts, is a sandbox account. The README's swaks command and its curl
example, sent to a node started from that file (only the ports, the data directory and the
admin token's path changed, as a test must), are accepted, reported DELIVERED and kept in the
sandbox (GET /v2/sandbox/messages), and nothing is sent: the recipients' domain is example.org,
whose MX a machine without the internet cannot reach."""
import re
import shlex

from txmail_harness import *

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
with open(os.path.join(ROOT, "config", "txmail.toml")) as f:
    shipped = f.read()
with open(os.path.join(ROOT, "README.md")) as f:
    readme = f.read()

tx = Txmail()
text = (shipped.replace('data_dir = "var"', f'data_dir = "{tx.data_dir}"')
        .replace('admin_token_file = "var/admin.token"', f'admin_token_file = "{tx.dir}/admin.token"')
        .replace('"127.0.0.1:2525"', '"127.0.0.1:0"').replace('"127.0.0.1:8080"', '"127.0.0.1:0"'))
check(text.count('"127.0.0.1:0"') == 2 and tx.data_dir in text and f"{tx.dir}/admin.token" in text,
      "config/txmail.toml changed its shape: this test rewrites its ports and paths")
tx.config_text = text
with open(tx.config, "w") as f:
    f.write(text)

swaks = re.search(r"`(swaks --server 127\.0\.0\.1:2525 [^`]*)`", readme)
check(swaks, "the README's swaks command is gone")
curl = re.search(r"curl -u demo:demo-password -H 'Content-Type: application/json' \S+/v2/jobs -d '(\{.*?\})'",
                 readme, re.S)
check(curl, "the README's curl example is gone")


def captured():
    r = http(tx, "GET", "/v2/sandbox/messages", user="demo", password="demo-password")
    check(r.status == 200, f"sandbox list: {r}")
    return r.json["messages"]


with tx:
    args = shlex.split(swaks.group(1).replace("127.0.0.1:2525", f"127.0.0.1:{tx.ports['submission']}"))
    out = subprocess.run(args + ["--timeout", "30"], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, f"the README's swaks command failed: {out.stdout[-800:]}")
    job_id = re.search(r"queued as (\S+)", out.stdout)
    check(job_id, f"no job id in the 250: {out.stdout[-400:]}")
    r = http(tx, "POST", "/v2/jobs", raw_body=curl.group(1).encode(), user="demo", password="demo-password",
             headers={"Content-Type": "application/json"})
    check(r.status == 202, f"the README's curl example: {r}")
    got = wait_for("both messages in the sandbox", lambda: (lambda m: len(m) == 2 and m)(captured()))
    check({m["to"] for m in got} == {"someone@example.org"}, f"captured: {got}")
    for job in (job_id.group(1), r.json["jobId"]):
        wait_for(f"job {job} DELIVERED", lambda: [(x["status"], x.get("subType")) for x in http(
            tx, "GET", f"/v2/jobs/{job}", user="demo", password="demo-password").json["recipients"]]
            == [("DELIVERED", "OK")])
print(f"the README's swaks and curl: 2 messages for someone@example.org captured in the demo account's sandbox, "
      "DELIVERED, nothing sent")
print("ok")
