#!/usr/bin/perl
# Verifies the DKIM signatures of message files with Perl's Mail::DKIM, keys looked up through
# the test DNS server. Prints one line per signature: "FILE DOMAIN SELECTOR RESULT DETAIL",
# or "FILE - - none" for a message without signatures.
# Usage: verify_dkim.pl DNS_PORT FILE...
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS::Resolver;

my $port = shift @ARGV;
my $resolver = Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $port, recurse => 0,
    udp_timeout => 5, tcp_timeout => 5, retry => 2);
Mail::DKIM::DNS::resolver($resolver);

for my $file (@ARGV) {
    open(my $fh, '<:raw', $file) or die "cannot read $file: $!";
    my $dkim = Mail::DKIM::Verifier->new();
    while (my $line = <$fh>) {
        $dkim->PRINT($line);
    }
    $dkim->CLOSE;
    close $fh;
    my @sigs = $dkim->signatures;
    if (!@sigs) {
        print "$file - - none\n";
    }
    for my $sig (@sigs) {
        my $detail = $sig->result_detail // '';
        $detail =~ s/\s+/_/g;
        printf "%s %s %s %s %s\n", $file, $sig->domain, $sig->selector, $sig->result, $detail;
    }
}
