"""Verifies a message's DKIM signature with dkimpy (an independent implementation), the
public key given instead of a DNS lookup. Usage: dkim_verify.py MESSAGE PUBLIC_KEY_B64.
Prints the selector and domain it was asked for and 'valid' or 'invalid'; exit 0 if valid."""
import sys

import dkim

message = open(sys.argv[1], "rb").read()
# smtp-sink stores lines as they came; DKIM is computed over CRLF lines.
message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
public = open(sys.argv[2]).read().strip()
asked = []


def dns(name, timeout=5):
    asked.append(name.decode() if isinstance(name, bytes) else name)
    return ("v=DKIM1; k=rsa; p=" + public).encode()


ok = dkim.verify(message, dnsfunc=dns)
print(" ".join(asked))
print("valid" if ok else "invalid")
sys.exit(0 if ok else 1)
