"""Damaged or missing data files (issue harden-1, defect 3): a node that finds a store it
created before missing, empty or damaged refuses to start with one line naming it and what to
do, instead of starting ready with the data gone (API-created accounts with config.db, job
status with events.db, every sealed secret with master.key). With --accept-data-loss it starts,
logs each loss and keeps the damaged file aside."""
import shutil
from txmail_harness import *


def start_fails(tx, *flags):
    try:
        return subprocess.run([TXMAIL, "serve", "--config", tx.config, *flags], capture_output=True, text=True,
                              timeout=20)
    except subprocess.TimeoutExpired:
        fail("txmail started (and ran) although a store was missing or damaged")


def backup(tx, name):
    """The file with its SQLite write-ahead log, as an operator's backup of a stopped node."""
    for suffix in ("", "-wal"):
        if os.path.exists(os.path.join(tx.data_dir, name + suffix)):
            shutil.copy2(os.path.join(tx.data_dir, name + suffix), os.path.join(tx.dir, name + suffix + ".bak"))


def restore(tx, name):
    for suffix in ("", "-wal", "-shm"):
        target = os.path.join(tx.data_dir, name + suffix)
        if os.path.exists(target):
            os.unlink(target)
        if os.path.exists(os.path.join(tx.dir, name + suffix + ".bak")):
            shutil.copy2(os.path.join(tx.dir, name + suffix + ".bak"), target)


with Txmail() as tx:
    r = http(tx, "POST", "/v2/admin/accounts", {"name": "apimade", "password": "a-long-password-1"}, token=True)
    check(r.status == 201, f"account: {r}")
    job = submit_as(tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: kept\r\n\r\nx\r\n")[2]
    check(job, "no job")
    wait_for("the job's status", lambda: http(tx, "GET", f"/v2/jobs/{job}", user="alice").status == 200)
    check(tx.stop() == 0, "stop")
    for name in ("config.db", "events.db", "master.key"):
        backup(tx, name)

    # config.db gone: refused, naming it.
    os.unlink(os.path.join(tx.data_dir, "config.db"))
    out = start_fails(tx)
    lines = out.stderr.strip().splitlines()
    check(out.returncode != 0 and len(lines) == 1 and "config.db is missing" in lines[0]
          and "--accept-data-loss" in lines[0], f"config.db missing: rc={out.returncode} {out.stderr!r}")
    restore(tx, "config.db")

    # events.db cut in half: damaged, refused.
    path = os.path.join(tx.data_dir, "events.db")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    out = start_fails(tx)
    check(out.returncode != 0 and "events.db is damaged" in out.stderr, f"events.db cut: {out.stderr!r}")

    # master.key gone while sealed data exists: refused, never a new key made silently.
    os.unlink(os.path.join(tx.data_dir, "master.key"))
    restore(tx, "events.db")
    out = start_fails(tx)
    check(out.returncode != 0 and "master.key is missing" in out.stderr, f"master.key: {out.stderr!r}")
    check(not os.path.exists(os.path.join(tx.data_dir, "master.key")), "a new master key was made")
    restore(tx, "master.key")

    # Everything back: the node starts, with what it had.
    tx.start()
    check(http(tx, "GET", f"/v2/jobs/{job}", user="alice").status == 200, "the job after the restore")
    check(http(tx, "GET", "/v2/admin/accounts/apimade", token=True).status == 200, "the API-made account")
    check(tx.stop() == 0, "stop")

    # Damaged again, and the operator accepts the loss: it starts, says what it lost, keeps the file.
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    ports = os.path.join(tx.data_dir, "ports")
    if os.path.exists(ports):
        os.unlink(ports)
    proc = subprocess.Popen([TXMAIL, "serve", "--config", tx.config, "--accept-data-loss"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for("the node started with --accept-data-loss",
                 lambda: os.path.exists(ports) or proc.poll() is not None, timeout=30)
        if proc.poll() is not None:
            fail(f"it did not start: {proc.stderr.read().decode()}")
        log = tx.log_text()
        check("events.db is damaged" in log and "--accept-data-loss" in log, "the loss is not logged")
        aside = [n for n in os.listdir(tx.data_dir) if n.startswith("events.db.damaged-")]
        check(aside, f"the damaged file was not kept: {os.listdir(tx.data_dir)}")
    finally:
        proc.terminate()
        proc.wait(20)

# The spool's write-ahead log cut short (the log holds the newest jobs; recovery stops at the
# cut as it would at a torn last record): the high-water mark shows writes are missing.
with Txmail() as tx:
    jobs = [submit_as(tx, "alice", "a@sender.test", ["b@dest.test"], f"Subject: job {i}\r\n\r\n{'x' * 100}\r\n")[2]
            for i in range(20)]
    check(all(jobs), "a job was refused")
    check(tx.stop() == 0, "stop")
    logs = sorted((os.path.getmtime(p), p) for p in (os.path.join(tx.data_dir, "spool", n)
                                                      for n in os.listdir(os.path.join(tx.data_dir, "spool")))
                  if p.endswith(".log"))
    check(logs, "no write-ahead log in the spool")
    newest = logs[-1][1]
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    out = start_fails(tx)
    lines = out.stderr.strip().splitlines()
    check(out.returncode != 0 and len(lines) == 1 and "writes before where the spool had been" in lines[0]
          and "--accept-data-loss" in lines[0], f"spool log cut: rc={out.returncode} {out.stderr!r}")
    lost = int(lines[0].split("log ends ")[1].split(" ")[0])
    check(lost > 0, f"the loss counted as {lost}")
    ports = os.path.join(tx.data_dir, "ports")
    proc = subprocess.Popen([TXMAIL, "serve", "--config", tx.config, "--accept-data-loss"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for("the node started with --accept-data-loss",
                 lambda: os.path.exists(ports) or proc.poll() is not None, timeout=30)
        check(proc.poll() is None, "it did not start with --accept-data-loss")
        check(f"log ends {lost} writes" in tx.log_text(), "the lost writes are not logged with their count")
        recovered = {j["job_id"] for j in tx.spool()}
        check(len(recovered) < len(jobs), f"every job recovered from a log cut in half? {len(recovered)}")
    finally:
        proc.terminate()
        proc.wait(20)
    # Accepted once: the next start is clean.
    tx.start()
    check(tx.stop() == 0, "stop after the accepted loss")
print("ok")
