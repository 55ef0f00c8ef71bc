"""SMTP slowloris (issue harden-1, defect 4): a byte every half second used to reset the command
timer, so trickling connections held every slot past command_timeout while real clients got
421. Now a command line must arrive whole within command_timeout, message data at
min_data_rate beyond its first data_timeout, and a session ends after session_timeout."""
import threading
from txmail_harness import *

SMTP = 'command_timeout = "2s"\ndata_timeout = "2s"\nmin_data_rate = 1000\nmax_connections = 30\n'


def trickle(d, data, until):
    """Sends `data` one byte every 0.4 s until the server answers or `until` passes; returns
    (seconds to the answer, its code and text) or None."""
    start = time.time()
    d.sock.settimeout(0.4)
    for b in data.encode():
        if time.time() > until:
            return None
        try:
            d.sock.sendall(bytes([b]))
        except OSError:
            break
        try:
            chunk = d.sock.recv(4096)
            if chunk:
                d.buf += chunk
                break
            break
        except (socket.timeout, TimeoutError):
            continue
    d.sock.settimeout(10)
    code, lines = d.reply()
    return time.time() - start, code, lines[-1]


with Txmail(smtp_settings=SMTP) as tx:
    # A command line that trickles in is cut at command_timeout, not reset by each byte.
    d = Dialog(tx.ports["relay"], source=ALLOWED_IP)
    d.expect(220)
    got = trickle(d, "EHLO a-very-slow-client.example.test\r\n", time.time() + 15)
    check(got is not None, "no answer to a trickling command line within 15 s")
    took, code, text = got
    check(code == 421 and text.startswith("4.4.2"), f"trickling EHLO: {code} {text}")
    check(took < 4.0, f"the trickling line was cut after {took:.1f}s, command_timeout is 2s")
    check(d.closed(), "the connection stays open after 421")
    print(f"trickling command line: 421 after {took:.1f}s")

    # Message data below min_data_rate is cut once its first data_timeout has passed.
    d = Dialog(tx.ports["relay"], source=ALLOWED_IP)
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@dest.test>", 250)
    d.cmd("DATA", 354)
    got = trickle(d, "Subject: slow\r\n\r\n" + "x" * 200 + "\r\n.\r\n", time.time() + 15)
    check(got is not None, "no answer to trickling message data within 15 s")
    took, code, text = got
    check(code == 421 and text.startswith("4.4.2"), f"trickling DATA: {code} {text}")
    check(took < 4.5, f"trickling data cut after {took:.1f}s")
    print(f"trickling message data: 421 after {took:.1f}s")

    # Thirty trickling connections fill every slot; a real client is refused while they hold
    # them, and served as soon as they are cut (no later than command_timeout).
    holders = []
    for _ in range(30):
        h = Dialog(tx.ports["relay"], source=ALLOWED_IP)
        h.expect(220)
        holders.append(h)
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            for h in holders:
                try:
                    h.sock.sendall(b"N")
                except OSError:
                    pass
            stop.wait(0.4)
    t = threading.Thread(target=drip, daemon=True)
    t.start()
    full_since = time.time()
    try:
        def served():
            try:
                c = Dialog(tx.ports["relay"], source=ALLOWED_IP, timeout=5)
            except OSError:
                return None
            try:
                code, _ = c.reply()
                if code == 220:
                    c.cmd("QUIT", 221)
                    return True
                return None
            except (ConnectionError, OSError):
                return None
            finally:
                c.close()
        wait_for("a real client served beside the trickling ones", served, timeout=10)
        waited = time.time() - full_since
        check(waited < 5.0, f"a real client waited {waited:.1f}s for a slot")
        print(f"thirty trickling connections: a real client served {waited:.1f}s after they took every slot")
    finally:
        stop.set()
        t.join()
        for h in holders:
            h.close()

with Txmail(smtp_settings='session_timeout = "3s"\n') as tx:
    # A session that keeps talking still ends at session_timeout.
    d = Dialog(tx.ports["relay"], source=ALLOWED_IP)
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    start = time.time()
    code = 250
    while code == 250 and time.time() - start < 15:
        d.send("NOOP\r\n")
        code, lines = d.reply()
        if code == 250:
            time.sleep(0.3)
    took = time.time() - start
    check(code == 421 and lines[-1].startswith("4.4.2"), f"session limit: {code} {lines}")
    check(took < 5.0, f"the session lasted {took:.1f}s, session_timeout is 3s")
    print(f"session_timeout 3s: 421 after {took:.1f}s of NOOPs")
print("ok")
