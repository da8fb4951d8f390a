"""Headless Chromium driven through its DevTools protocol over a pipe (--remote-debugging-pipe:
commands on fd 3, replies on fd 4, JSON messages ended by a NUL byte), so the report tests can
open a page as a person would and ask what it shows: no websocket, no npm, no driver download.

The browser is Debian's `chromium` package (.ci/run installs it when missing). Without it the
tests skip only when .ci/run recorded that the package manager refused to install it
(MODELTEST_CHROMIUM_REFUSED holds its words); anywhere else a missing browser is a failure.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# the flags known to work on these machines: no sandbox as root, no GPU, and no background
# connections (the closed network refuses them, many at a time)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe")

WIRING = ("import os, sys\n"
          "commands, replies = int(sys.argv[1]), int(sys.argv[2])\n"
          "os.dup2(commands, 3); os.dup2(replies, 4); os.close(commands); os.close(replies)\n"
          "os.execv(sys.argv[3], sys.argv[3:])\n")


def chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    refused = os.environ.get("MODELTEST_CHROMIUM_REFUSED")
    if refused:
        pytest.skip(f"no browser: the package manager refused to install chromium ({refused})")
    pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package "
                "(apt-get install --no-install-recommends chromium; .ci/run does)")


class Browser:
    """One Chromium with one tab; `console` collects every error the page reported (console
    errors and warnings, uncaught exceptions, failed loads, policy violations)."""

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 30.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="modeltest-chromium-")
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        # the browser's ends, moved above 4, then put on fds 3 and 4 by a small Python
        # trampoline that execs the browser (no preexec_fn: it may not touch subprocess's own
        # error pipe)
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 5) for fd in (to_browser, from_browser)]
        os.close(to_browser)
        os.close(from_browser)
        self.process = subprocess.Popen(
            [sys.executable, "-c", WIRING, *map(str, ends), chromium(), *FLAGS,
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=ends)
        for end in ends:
            os.close(end)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.console: list[str] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=False)

    # -- the protocol --------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        event = json.loads(message)
        if "method" in event:
            self._note(event)
        return event

    def _note(self, event: dict) -> None:
        self.events.append(event)
        params, method = event.get("params", {}), event["method"]
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.console.append(f"exception: {details.get('text')} "
                                f"{(details.get('exception') or {}).get('description', '')}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning",
                                                                         "assert"):
            self.console.append(f"console.{params['type']}: " + " ".join(
                str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            self.console.append(f"log {params['entry']['level']}: {params['entry']['text']}")

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        seen = len(self.events)
        while True:
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            self._receive(deadline)

    # -- what a test does ------------------------------------------------------------------
    def open(self, path: Path) -> None:
        """Load a file and wait until it and its images have loaded."""
        self.events.clear()
        self.call("Page.navigate", session=True, url=Path(path).resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        """The value of a JavaScript expression in the page (as JSON)."""
        reply = self.call("Runtime.evaluate", session=True, expression=expression,
                          returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
