"""An authoritative DNS server for tests, on python3-dnslib: serves one zone file (BIND
syntax) over UDP and TCP on 127.0.0.1 and an ephemeral port, which it prints on its first line
of output. NXDOMAIN for names the zone does not have, NODATA (with the SOA, so resolvers can
cache it) for names it has without the type asked, SERVFAIL for names under "servfail.".

Usage: /usr/bin/python3 dns_server.py ZONE_FILE [QUERY_LOG]
"""
import sys
import threading
import time

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zone_text, log_path=None):
        self.rrs = RR.fromZone(zone_text)
        self.soa = [rr for rr in self.rrs if rr.rtype == QTYPE.SOA]
        self.names = {rr.rname for rr in self.rrs}
        self.log_path = log_path
        self.lock = threading.Lock()

    def resolve(self, request, handler):
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
    with open(sys.argv[1]) as f:
        resolver = ZoneResolver(f.read(), sys.argv[2] if len(sys.argv) > 2 else None)
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    udp = DNSServer(resolver, port=0, address="127.0.0.1", logger=quiet)
    port = udp.server.server_address[1]
    tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=quiet)
    udp.start_thread()
    tcp.start_thread()
    print(port, flush=True)
    while udp.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
