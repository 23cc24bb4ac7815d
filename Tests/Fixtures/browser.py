#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe), stdlib only.

    browser.py checkin URL SCREENSHOT_DIR   opens a check-in link on a phone-sized screen, picks the first answer of
                                            every question as a person would (click on the label), presses
                                            "Send my answers", and prints a JSON report of what it saw.
    browser.py page URL SCREENSHOT [COOKIE] opens a page (optionally with a sign-in cookie `name=value`), waits for it
                                            to load, saves a screenshot and prints a JSON report.
    browser.py signin BASE EMAIL PASSWORD OTPAUTH_URI SCREENSHOT_DIR
                                            signs in as staff do: types email and password into /login, then the
                                            6-digit code that pyotp (an independent RFC 6238 implementation, from
                                            var/pyenv) computes from the otpauth URI, then presses "Sign out"; prints
                                            what each page said. Run it with var/pyenv/bin/python.
"""
import base64, json, os, subprocess, sys, tempfile, time

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="rom-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4.
        # subprocess closes every fd not in pass_fds after preexec_fn runs, so keep 3 and 4 open and fill them here
        # (through fresh duplicates, in case the pipe ends themselves are 3 or 4).
        def remap():
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=remap, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id = 0
        self.buffer = b""
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def wait_event(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, event in enumerate(self.events):
                if event.get("method") == name:
                    return self.events.pop(i)
            self.events.append(self.read())
        raise TimeoutError(name)

    def open(self, width=390, height=844, mobile=True):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Network.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": mobile})

    def navigate(self, url):
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def click(self, selector):
        """A real mouse click in the middle of the element, as a finger would tap it."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
                            f" const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; }})()")
        x, y = box[0], box[1]
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
        return box

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait()


def checkin(url, folder):
    browser = Browser()
    try:
        browser.open()
        browser.navigate(url)
        report = {"title": browser.evaluate("document.title"),
                  "scripts": browser.evaluate("document.scripts.length"),
                  "fieldsets": browser.evaluate("document.querySelectorAll('fieldset').length"),
                  "legends": browser.evaluate("document.querySelectorAll('fieldset > legend').length"),
                  "overflow": browser.evaluate("document.documentElement.scrollWidth > window.innerWidth"),
                  "smallest_target": None}
        browser.screenshot(os.path.join(folder, "checkin-form.png"))
        names = browser.evaluate("[...new Set([...document.querySelectorAll('input[type=radio]')].map(i => i.name))]")
        heights = []
        for name in names:
            # Tap the label of the first option: the big target a person uses.
            box = browser.click(f"input[name='{name}'] + label")
            heights.append(box[3])
        report["answered"] = browser.evaluate("document.querySelectorAll('input[type=radio]:checked').length")
        report["questions"] = len(names)
        report["smallest_target"] = min(heights) if heights else None
        browser.events = [e for e in browser.events if e.get("method") != "Page.loadEventFired"]
        browser.click("button[value=send]")
        browser.wait_event("Page.loadEventFired")
        report["confirmation"] = browser.evaluate("document.body.innerText")
        browser.screenshot(os.path.join(folder, "checkin-confirmation.png"))
        print(json.dumps(report))
    finally:
        browser.close()


def page(url, path, cookie=None):
    browser = Browser()
    try:
        browser.open(width=1280, height=900, mobile=False)
        if cookie:
            name, value = cookie.split("=", 1)
            browser.send("Network.setCookie", {"name": name, "value": value, "url": url})
        browser.navigate(url)
        report = {"title": browser.evaluate("document.title"), "text": browser.evaluate("document.body.innerText"),
                  "svgs": browser.evaluate("document.querySelectorAll('svg').length"),
                  "svg_boxes": browser.evaluate("[...document.querySelectorAll('svg')].map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; })")}
        browser.screenshot(path)
        print(json.dumps(report))
    finally:
        browser.close()


def type_into(browser, selector, text):
    """Focus a field and type into it as a keyboard would (Input.insertText fires the input events)."""
    browser.click(selector)
    browser.send("Input.insertText", {"text": text})


def submit(browser, selector):
    browser.events = [e for e in browser.events if e.get("method") != "Page.loadEventFired"]
    browser.click(selector)
    browser.wait_event("Page.loadEventFired")


def signin(base, email, password, uri, folder):
    import pyotp
    browser = Browser()
    try:
        browser.open(width=1280, height=900, mobile=False)
        browser.navigate(base + "/login?next=/ops/users")
        report = {"login_fields": browser.evaluate("[...document.querySelectorAll('form input:not([type=hidden])')].map(i => i.name)")}
        type_into(browser, "#email", email)
        type_into(browser, "#password", password)
        browser.screenshot(os.path.join(folder, "signin-password.png"))
        submit(browser, "button[type=submit]")
        report["code_url"] = browser.evaluate("location.pathname")
        report["code_fields"] = browser.evaluate("[...document.querySelectorAll('form input:not([type=hidden])')].map(i => i.name)")
        totp = pyotp.parse_uri(uri)
        # A code near the end of its 30 s step could expire between typing and arriving; wait for a fresh one.
        if 30 - time.time() % 30 < 3:
            time.sleep(30 - time.time() % 30 + 0.5)
        code = totp.now()
        type_into(browser, "#code", code)
        browser.screenshot(os.path.join(folder, "signin-code.png"))
        submit(browser, "button[type=submit]")
        report["code"] = code
        report["signed_in_url"] = browser.evaluate("location.pathname")
        report["signed_in_text"] = browser.evaluate("document.body.innerText")
        report["cookies"] = [c["name"] for c in browser.send("Network.getCookies", {"urls": [base]})["cookies"]]
        browser.screenshot(os.path.join(folder, "signin-done.png"))
        # Signing out is a cookie POST from our own page: it must pass the same-origin check as a browser sends it.
        submit(browser, "header button")
        report["signed_out_url"] = browser.evaluate("location.pathname")
        report["signed_out_status"] = browser.evaluate("document.title")
        browser.navigate(base + "/ops/users")
        report["after_sign_out_url"] = browser.evaluate("location.pathname")
        print(json.dumps(report))
    finally:
        browser.close()


if __name__ == "__main__":
    if sys.argv[1] == "checkin":
        checkin(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "page":
        page(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif sys.argv[1] == "signin":
        signin(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
