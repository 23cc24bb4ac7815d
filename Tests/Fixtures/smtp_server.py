#!/usr/bin/env python3
"""A loopback SMTP server (Debian's python3-aiosmtpd) that stores each message as a file.

Usage: smtp_server.py PORTFILE MAILDIR [CERT KEY]
With CERT and KEY it offers STARTTLS and refuses mail before it; without them it offers no TLS at all.
While a file named `drop` exists in MAILDIR, each message is stored and then the connection is cut before the
server's 250 reply (the sender cannot tell whether the message was taken); each drop removes one line of the file.
While a file named `dropshare` holds "SHARE SEED", each message is dropped so with probability SHARE (seeded); the
dropped ones are named in `dropped` (R11's sustained run).
"""
import asyncio, os, random, socket, ssl, sys, time
from aiosmtpd.controller import Controller


class Store:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.random = None

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.folder, f"{time.time_ns()}-{self.count}.eml")
        with open(name, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(os.path.join(self.folder, "log"), "a") as log:
            log.write(f"MAIL FROM {envelope.mail_from} RCPT {','.join(envelope.rcpt_tos)} TLS {session.ssl is not None}\n")
        share = os.path.join(self.folder, "dropshare")
        if os.path.exists(share):
            with open(share) as f:
                fraction, seed = f.read().split()
            if self.random is None:
                self.random = random.Random(int(seed))
            if self.random.random() < float(fraction):
                with open(os.path.join(self.folder, "dropped"), "a") as log:
                    log.write(os.path.basename(name) + "\n")
                server.transport.abort()
                return "421 dropped"
        drop = os.path.join(self.folder, "drop")
        if os.path.exists(drop):
            with open(drop) as f:
                lines = f.read().splitlines()
            if len(lines) > 1:
                with open(drop, "w") as f:
                    f.write("\n".join(lines[1:]) + "\n")
            else:
                os.remove(drop)
            server.transport.abort()
            return "421 dropped"
        return "250 OK"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


folder = sys.argv[2]
os.makedirs(folder, exist_ok=True)
port = free_port()
kwargs = {}
if len(sys.argv) > 4:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    kwargs = {"tls_context": context, "require_starttls": True}
controller = Controller(Store(folder), hostname="127.0.0.1", port=port, **kwargs)
controller.start()
with open(sys.argv[1], "w") as f:
    f.write(str(port))
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
