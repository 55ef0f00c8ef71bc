#!/usr/bin/perl
# Parses a message with MIME-tools (libmime-tools-perl), the second parser of the composition
# test, and prints what it found as JSON: decoded header text and every leaf part. Strings are
# given base64-encoded (bytes as MIME-tools returns them, UTF-8 for encoded words) so that no
# layer re-encodes them.
use strict;
use warnings;
use MIME::Parser;
use MIME::Words qw(decode_mimewords);
use MIME::Base64 qw(encode_base64);
use JSON::PP;
use Encode ();

my $file = shift or die "usage: mime_parts.pl FILE\n";
my $parser = MIME::Parser->new;
$parser->output_to_core(1);
$parser->decode_headers(0);
my $entity = $parser->parse_open($file) or die "parse failed\n";
my $head = $entity->head;
$head->unfold;

# MIME-tools returns bytes for most values and Perl character strings for some decoded
# parameters (RFC 2231 file names): both become UTF-8 bytes.
sub b64 {
    my $s = shift;
    $s = '' unless defined $s;
    $s = Encode::encode('UTF-8', $s) if utf8::is_utf8($s);
    return encode_base64($s, '');
}

sub decoded {
    my $raw = shift;
    return undef unless defined $raw;
    chomp $raw;
    return join('', map { $_->[0] } decode_mimewords($raw));
}

my %out;
for my $h (qw(Subject From To Cc Bcc Reply-To In-Reply-To Message-ID X-Priority Importance List-Unsubscribe List-Unsubscribe-Post)) {
    my $v = $head->get($h);
    $out{lc $h} = b64(decoded($v)) if defined $v;
}
my @parts;
for my $part ($entity->parts_DFS) {
    next if $part->parts;    # containers
    my $ph = $part->head;
    next unless $part->bodyhandle;
    my $cid = $ph->get('Content-ID');
    chomp $cid if defined $cid;
    push @parts, {
        type        => $ph->mime_type,
        charset     => scalar($ph->mime_attr('content-type.charset')),
        filename    => b64(scalar($ph->recommended_filename)),
        has_filename => defined(scalar($ph->recommended_filename)) ? JSON::PP::true : JSON::PP::false,
        cid         => $cid,
        disposition => scalar($ph->mime_attr('content-disposition')),
        body        => b64($part->bodyhandle->as_string),
    };
}
$out{parts} = \@parts;
$out{top_type} = $entity->head->mime_type;
print JSON::PP->new->canonical->encode(\%out), "\n";
