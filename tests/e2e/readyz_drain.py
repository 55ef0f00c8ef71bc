"""Readiness in embedded mode (issue site-1, item 7): /readyz answers 200 with a ready node and
503 with a JSON reason when the data directory's file system is nearly full or takes no new
files (a small ext4 file system on a loop device made by the test; `chattr +i` on the data
directory refuses new files even to root), and comes back by itself. `txmail drain` stops
intake (readyz 503 "draining", SMTP 421 at the greeting, POST /v2/jobs 503) while queued mail is
still delivered; `txmail drain --resume` takes traffic again."""
from txmail_harness import *


def job(subject):
    return {"subject": subject, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "a@sender.test"}}, "recipients": [{"mail": {"to": [{"email": "c@dest.test"}]}}]}


def ready_reason(tx):
    r = http(tx, "GET", "/readyz")
    return None if r.status == 200 else (r.status, r.json.get("reason", ""))


sink = Sink("127.0.0.61", free_port())
delivery = f'paused = false\nidle_connection = "100ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.61:{sink.port}"\n'
tx = Txmail(delivery=delivery)
tx.config_text = tx.config_text.replace("io_threads = 2\n", 'io_threads = 2\nmin_free_space = "24MiB"\n', 1)
with open(tx.config, "w") as f:
    f.write(tx.config_text)
os.makedirs(tx.data_dir)
image = os.path.join(tx.dir, "data.ext4")
with open(image, "wb") as f:
    f.truncate(384 << 20)  # RocksDB preallocates its log files: room for them
subprocess.run(["mkfs.ext4", "-q", "-m", "0", image], check=True, capture_output=True)
mounted = subprocess.run(["mount", "-o", "loop", image, tx.data_dir], capture_output=True, text=True)
check(mounted.returncode == 0, f"cannot mount a tmpfs for the test: {mounted.stderr}")
filler = os.path.join(tx.data_dir, "filler")
try:
    tx.start()
    check(ready_reason(tx) is None, f"not ready at start: {ready_reason(tx)}")

    # Nearly full: under min_free_space, without any message written.
    st = os.statvfs(tx.data_dir)
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - (8 << 20)))
    why = wait_for("503 with the disk nearly full", lambda: ready_reason(tx), timeout=10)
    check(why[0] == 503 and "nearly full" in why[1], f"{why}")
    os.unlink(filler)
    wait_for("ready after space returned", lambda: ready_reason(tx) is None, timeout=10)

    # No new files.
    subprocess.run(["chattr", "+i", tx.data_dir], check=True, capture_output=True)
    why = wait_for("503 with the data directory not writable", lambda: ready_reason(tx), timeout=10)
    check(why[0] == 503 and "not writable" in why[1], f"{why}")
    subprocess.run(["chattr", "-i", tx.data_dir], check=True, capture_output=True)
    wait_for("ready when writable again", lambda: ready_reason(tx) is None, timeout=10)

    # Drain: a message queued before goes out; nothing new comes in.
    queued = submit(tx, "a@sender.test", ["held@dest.test"], "Subject: queued before the drain\r\n\r\nx\r\n")
    out = subprocess.run([TXMAIL, "drain", "--config", tx.config, "--json"], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0 and json.loads(out.stdout)["draining"] is True, f"drain: {out.stdout} {out.stderr}")
    check(ready_reason(tx) == (503, "draining"), f"readyz while draining: {ready_reason(tx)}")
    d = Dialog(tx.ports["relay"], source=ALLOWED_IP)
    d.expect(421, "4.3.2")
    d.close()
    r = http(tx, "POST", "/v2/jobs", job("while draining"), user="alice")
    check(r.status == 503 and r.headers.get("retry-after"), f"REST while draining: {r}")
    wait_for("the queued message delivered while draining",
             lambda: any("queued before the drain" in m["data"] for m in sink.messages()))
    out = subprocess.run([TXMAIL, "drain", "--resume", "--config", tx.config], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0 and "resumed" in out.stdout, f"resume: {out.stdout} {out.stderr}")
    check(ready_reason(tx) is None, f"not ready after resume: {ready_reason(tx)}")
    check(submit(tx, "a@sender.test", ["after@dest.test"], "Subject: after\r\n\r\nx\r\n"), "SMTP after resume")
    check(tx.stop() == 0, "stop")
finally:
    if tx.proc and tx.proc.poll() is None:
        tx.proc.kill()
        tx.proc.wait()
    subprocess.run(["chattr", "-i", tx.data_dir], capture_output=True)
    subprocess.run(["umount", tx.data_dir], capture_output=True)
    sink.stop()
print("ok")
