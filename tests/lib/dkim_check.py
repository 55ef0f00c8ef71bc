"""DKIM verification by the two reference implementations the tests compare against:
python3-dkim and Perl's Mail::DKIM, both looking keys up in a test DNS server."""
import os
import subprocess

import dkim
from dnslib import DNSRecord, QTYPE


def txt_lookup(port):
    """A dnsfunc for python3-dkim that asks the test DNS server on 127.0.0.1:port."""
    def lookup(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        reply = DNSRecord.parse(DNSRecord.question(name.rstrip("."), "TXT").send("127.0.0.1", port, timeout=timeout))
        for rr in reply.rr:
            if rr.rtype == QTYPE.TXT:
                return b"".join(rr.rdata.data)
        return None
    return lookup


def python_verdicts(message, port):
    """One (domain, selector, ok) per DKIM-Signature, in order, from python3-dkim."""
    d = dkim.DKIM(message)
    sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    out = []
    for i, sig in enumerate(sigs):
        tags = dict(t.strip().split(b"=", 1) for t in sig.split(b";") if b"=" in t)
        try:
            ok = dkim.DKIM(message).verify(idx=i, dnsfunc=txt_lookup(port))
        except dkim.ValidationError:  # e.g. "body hash mismatch": a failed verification
            ok = False
        out.append((tags[b"d"].strip().decode(), tags[b"s"].strip().decode(), bool(ok)))
    return out


def perl_verdicts(paths, port):
    """{path: [(domain, selector, result, detail)]} from Mail::DKIM."""
    out = subprocess.run(["perl", os.path.join(os.path.dirname(__file__), "verify_dkim.pl"), str(port)] + list(paths),
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError("verify_dkim.pl failed: " + out.stderr)
    result = {p: [] for p in paths}
    for line in out.stdout.splitlines():
        path, domain, selector, verdict, *detail = line.split(" ")
        if verdict != "none":
            result[path].append((domain, selector, verdict, " ".join(detail)))
    return result
