"""A full disk (issue harden-1, defect 2): the node's data directory on a small tmpfs made by
the test. Once free space falls under [node] min_free_space, new messages are refused (SMTP
451 4.3.0, REST 503) before anything is written, /readyz answers 503, and the refusal is logged
once; when space returns, the node accepts again by itself, without a restart; nothing
accepted before is lost."""
from txmail_harness import *

tx = Txmail()
tx.config_text = tx.config_text.replace("io_threads = 2\n", 'io_threads = 2\nmin_free_space = "24MiB"\n', 1)
with open(tx.config, "w") as f:
    f.write(tx.config_text)
os.makedirs(tx.data_dir)
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m,mode=0700", "tmpfs", tx.data_dir],
                         capture_output=True, text=True)
check(mounted.returncode == 0, f"cannot mount a tmpfs for the test: {mounted.stderr}")
filler = os.path.join(tx.data_dir, "filler")


def free_bytes():
    st = os.statvfs(tx.data_dir)
    return st.f_bavail * st.f_frsize


def job(subject):
    return {"subject": subject, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "a@sender.test"}}, "recipients": [{"mail": {"to": [{"email": "c@dest.test"}]}}]}


try:
    tx.start()
    first = submit_as(tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: before\r\n\r\nkept\r\n")[2]
    check(first, "the first message was refused")
    check(http(tx, "GET", "/readyz").status == 200, "not ready at start")

    # Fill the disk to 12 MiB free: under the 24 MiB reserve, not quite full.
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free_bytes() - (12 << 20)))
        f.flush()
        os.fsync(f.fileno())
    refused = 0
    for i in range(5):
        code, text, job_id = submit_as(tx, "alice", "a@sender.test", ["b@dest.test"], f"Subject: full {i}\r\n\r\nx\r\n")
        check(code == 451 and text.startswith("4.3.0") and job_id is None, f"while full: {code} {text}")
        r = http(tx, "POST", "/v2/jobs", job(f"full {i}"), user="alice")
        check(r.status == 503, f"REST while full: {r}")
        refused += 2
    check(http(tx, "GET", "/readyz").status == 503, "/readyz says ready with the disk full")
    free_then = free_bytes()

    # Space returns: accepted again by itself.
    os.unlink(filler)
    again = wait_for("a message accepted again", lambda: submit_as(
        tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: after\r\n\r\nx\r\n")[2], timeout=20)
    r = http(tx, "POST", "/v2/jobs", job("after"), user="alice")
    check(r.status == 202, f"REST after the space returned: {r}")
    # /readyz follows the disk probe, which runs every second (intake checks at each write).
    wait_for("/readyz after the space returned", lambda: http(tx, "GET", "/readyz").status == 200, timeout=10)
    log = wait_for("the recovery in the log", lambda: (lambda t: "accepting new messages" in t and t)(tx.log_text()))
    check(log.count("new messages are refused until space returns") == 1,
          f"the full disk was logged {log.count('new messages are refused until space returns')} times for {refused} refusals")
    ids = {j["job_id"] for j in tx.spool()}
    check(first in ids and again in ids, f"accepted messages missing from the spool: {first} {again}")
    print(f"{refused} submissions refused with {free_then >> 20} MiB free, accepted again once space returned")

    # Really full (a few KiB left): still refused cleanly, still back by itself afterwards.
    fill_disk(filler)
    code, text, _ = submit_as(tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: full\r\n\r\nx\r\n")
    check(code == 451, f"with the disk full: {code} {text}")
    check(http(tx, "POST", "/v2/jobs", job("full"), user="alice").status == 503, "REST with the disk full")
    os.unlink(filler)
    wait_for("accepted after the disk was full", lambda: submit_as(
        tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: after full\r\n\r\nx\r\n")[2], timeout=20)
    check(tx.proc.poll() is None, "txmail ended")
    rc = tx.stop()
    check(rc == 0, f"stopped with status {rc}; the log's end:\n" + "\n".join([l for l in tx.log_text().splitlines() if "spool" in l or "rocks" in l or "stop" in l][-25:]) + "\nstderr: " + tx.stderr()[-2000:])
finally:
    if tx.proc and tx.proc.poll() is None:
        tx.proc.kill()
        tx.proc.wait()
    subprocess.run(["umount", tx.data_dir], capture_output=True)
print("ok")
