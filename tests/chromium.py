"""Open a page in headless Chromium (Debian's ``chromium``) over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: no port, no Python dependency) and report what a reader would see:
each image's natural width, the console errors and a screenshot."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Page", "chromium", "open_page"]


def chromium() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@dataclass
class Page:
    images: list[dict[str, Any]]  # {alt, naturalWidth, naturalHeight} of every <img>
    errors: list[str]  # console errors, uncaught exceptions, failed loads
    screenshot: Path  # the first screen (1280 x 900)
    full: Path | None = None  # the whole page
    anchors: list[str] = field(default_factory=list)  # href="#..." targets that exist


class _Pipe:
    def __init__(self, binary: str, profile: str) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def fds() -> None:  # in the child: Chromium reads commands on fd 3 and writes answers on fd 4
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)  # fresh numbers: dup2(3, 3) would keep close-on-exec
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read(timeout)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read(timeout)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError(f"no answer from chromium in {timeout:.0f} s")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


_IMAGES = "JSON.stringify([...document.images].map(i => ({alt: i.alt, naturalWidth: i.naturalWidth, " \
          "naturalHeight: i.naturalHeight})))"
_ANCHORS = "JSON.stringify([...document.querySelectorAll('a[href^=\"#\"]')].map(a => a.getAttribute('href'))" \
           ".filter(h => document.getElementById(h.slice(1))))"


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif e.get("method") == "Runtime.exceptionThrown":
            out.append(p.get("exceptionDetails", {}).get("text", "exception"))
        elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(p["entry"].get("text", ""))
    return out


def open_page(path: Path, screenshot: Path, full: Path | None = None, width: int = 1280, height: int = 900) -> Page:
    """Load `path` (a local HTML file) offline, wait for its load event, and read it back."""
    binary = chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="ablate-chromium-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for method in ("Page.enable", "Runtime.enable", "Log.enable"):
                pipe.send(method, session=session)
            pipe.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
            pipe.send("Network.enable", session=session)
            pipe.send("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1,
                                                          "uploadThroughput": -1}, session=session)
            pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            pipe.wait_event("Page.loadEventFired")
            value = lambda expr: json.loads(pipe.send("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                                                      session=session)["result"]["value"])
            images, anchors = value(_IMAGES), value(_ANCHORS)
            shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            if full is not None:
                size = pipe.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
                clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
                shot = pipe.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True},
                                 session=session)
                full.write_bytes(base64.b64decode(shot["data"]))
            failed = [f"failed to load {e['params'].get('errorText', '')}" for e in pipe.events
                      if e.get("method") == "Network.loadingFailed"]
            return Page(images, _errors(pipe.events) + failed, screenshot, full, anchors)
        finally:
            pipe.close()
