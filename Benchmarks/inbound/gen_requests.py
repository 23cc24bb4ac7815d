#!/usr/bin/env python3
"""Writes signed inbound-SMS webhook requests for wrk, one per line: `signature<TAB>form body`.

    gen_requests.py URL AUTH_TOKEN PEOPLE COUNT OUT

Twilio's signature (base64 HMAC-SHA1 of the URL followed by each parameter name and value, sorted by name) is
computed here with Python's hmac module, so the service verifies signatures it did not make. Every request has its
own MessageSid (duplicates would take the short path). Bodies are what people send: answers with and without codes,
HELP, unreadable text, from people's numbers and from unknown ones.
"""
import base64, hashlib, hmac, sys, urllib.parse

url, token, people, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
bodies = ["P1 1 2 0 3 1 0 2 1 0", "1,2,0,3,1,0,2,1,0", "120310210", "HELP", "not sure what to put", "2 2 2 2 2 2 2"]
with open(out, "w") as f:
    for n in range(count):
        sender = f"+4477009{n % people:05d}" if n % 10 else "+447700999999"
        params = {"MessageSid": f"SMbench{n:09d}", "From": sender, "To": "+447700900000", "Body": bodies[n % len(bodies)]}
        data = url + "".join(k + params[k] for k in sorted(params))
        signature = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
        f.write(signature + "\t" + urllib.parse.urlencode(params) + "\n")
