"""An authoritative DNS server for tests, on python3-dnslib: serves one zone file (BIND
syntax) over UDP and TCP on 127.0.0.1 and an ephemeral port, which it prints on its first line
of output; it rereads the file when it changes. NXDOMAIN for names the zone does not have, NODATA (with the SOA, so resolvers can
cache it) for names it has without the type asked, SERVFAIL for names under "servfail.".

With `--synth SUFFIX=IP` (repeatable) it also answers every name under SUFFIX as a domain
of its own, as a wildcard would but with one MX host per domain (so each is a destination site
of its own): `dN.SUFFIX MX 10 mx.dN.SUFFIX` and `mx.dN.SUFFIX A IP` (delivery to many domains).

Usage: /usr/bin/python3 dns_server.py ZONE_FILE [QUERY_LOG] [--synth SUFFIX=IP ...]
"""
import os
import sys
import threading
import time

from dnslib import A, DNSLabel, MX, QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zone_path, log_path=None, synth=None):
        self.zone_path = zone_path
        self.synth = [(DNSLabel(suffix), ip) for suffix, ip in (synth or [])]
        self.mtime = None
        self.log_path = log_path
        self.lock = threading.Lock()
        self.load()

    def load(self):
        """(Re)reads the zone file when it changed: tests publish records as they go."""
        mtime = os.stat(self.zone_path).st_mtime_ns
        if mtime == self.mtime:
            return
        with open(self.zone_path) as f:
            rrs = RR.fromZone(f.read())
        self.rrs = rrs
        self.soa = [rr for rr in rrs if rr.rtype == QTYPE.SOA]
        self.names = {rr.rname for rr in rrs}
        self.mtime = mtime

    def resolve(self, request, handler):
        with self.lock:
            self.load()
        reply = request.reply()
        qname, qtype = request.q.qname, request.q.qtype
        if self.log_path:
            with self.lock, open(self.log_path, "a") as f:
                f.write(f"{qname} {QTYPE[qtype]}\n")
        reply.header.aa = 1
        if qname.matchSuffix("servfail.test"):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for suffix, ip in self.synth:
            if qname.matchSuffix(suffix) and len(qname.label) > len(suffix.label):
                labels = qname.label[:len(qname.label) - len(suffix.label)]
                if qtype == QTYPE.MX and len(labels) == 1:
                    reply.add_answer(RR(qname, QTYPE.MX, ttl=300, rdata=MX(DNSLabel((b"mx",) + qname.label), 10)))
                elif qtype == QTYPE.A and len(labels) == 2 and labels[0] == b"mx":
                    reply.add_answer(RR(qname, QTYPE.A, ttl=300, rdata=A(ip)))
                else:
                    for rr in self.soa:
                        reply.add_auth(rr)
                return reply
        answers = [rr for rr in self.rrs if rr.rname == qname and rr.rtype == qtype]
        if answers:
            for rr in answers:
                reply.add_answer(rr)
        else:
            if qname not in self.names:
                reply.header.rcode = RCODE.NXDOMAIN
            for rr in self.soa:
                reply.add_auth(rr)
        return reply


def main():
    args = sys.argv[1:]
    synth = []
    while "--synth" in args:
        i = args.index("--synth")
        suffix, ip = args[i + 1].split("=", 1)
        synth.append((suffix, ip))
        del args[i:i + 2]
    resolver = ZoneResolver(args[0], args[1] if len(args) > 1 else None, synth)
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    # The kernel picks a free UDP port; the same TCP port may be taken (tests run in
    # parallel): then try another.
    for _ in range(50):
        udp = DNSServer(resolver, port=0, address="127.0.0.1", logger=quiet)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=quiet)
            break
        except OSError:
            udp.server.server_close()
    else:
        sys.exit("no port free for both UDP and TCP")
    udp.start_thread()
    tcp.start_thread()
    print(port, flush=True)
    while udp.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
