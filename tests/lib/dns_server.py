"""An authoritative DNS server for tests, on python3-dnslib: serves one zone file (BIND
syntax) over UDP and TCP on 127.0.0.1 and an ephemeral port, which it prints on its first line
of output; it rereads the file when it changes. NXDOMAIN for names the zone does not have, NODATA (with the SOA, so resolvers can
cache it) for names it has without the type asked, SERVFAIL for names under "servfail.".

Usage: /usr/bin/python3 dns_server.py ZONE_FILE [QUERY_LOG]
"""
import os
import sys
import threading
import time

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zone_path, log_path=None):
        self.zone_path = zone_path
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
    resolver = ZoneResolver(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
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
