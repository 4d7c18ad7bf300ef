"""Browser-test plumbing: the app served by uvicorn in a thread, and headless Chromium."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "tests" / "artefacts" / "web"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def ensure_chromium() -> None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        subprocess.run([str(ROOT / "scripts" / "ensure_chromium.sh")], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app):
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("web server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Browser:
    """A fresh headless Chromium profile per test; screenshots go to tests/artefacts/web."""

    def __init__(self, base_url: str, test_name: str):
        ensure_chromium()
        self.base_url = base_url
        self.name = test_name
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1000",
                     f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.shots = 0

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, css: str, timeout: float = 15):
        return WebDriverWait(self.driver, timeout).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def wait_text(self, css: str, text: str, timeout: float = 15) -> None:
        WebDriverWait(self.driver, timeout).until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    def wait_any_text(self, css: str, texts: tuple[str, ...], timeout: float = 15) -> str:
        """Wait until the element shows one of ``texts``; returns the one it showed."""
        def shown(driver):
            text = driver.find_element(By.CSS_SELECTOR, css).text
            return next((t for t in texts if t in text), False)
        # The page re-renders while it polls: an element found a moment ago can be gone.
        return WebDriverWait(self.driver, timeout,
                             ignored_exceptions=(StaleElementReferenceException,)).until(shown)

    def login(self, username: str, password: str, expect_success: bool = True) -> None:
        self.open("/login")
        self.find("#username").send_keys(username)
        self.find("#password").send_keys(password)
        self.find("#login-submit").click()
        # Wait for the signed-in page: opening another URL before the redirect lands would
        # abort the POST and leave the browser without its session cookie.
        if expect_success:
            self.wait_for("form.logout")

    def screenshot(self, label: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = ARTEFACTS / f"{self.name}-{self.shots:02d}-{label}.png"
        self.driver.save_screenshot(str(path))
        return path

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"  # npm install (package.json)
SERIOUS = ("serious", "critical")


def ensure_axe() -> None:
    if not AXE.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=ROOT, check=True)


def set_width(browser: Browser, width: int, height: int = 900) -> None:
    """Resize so that the page's own viewport is ``width`` CSS pixels wide."""
    driver = browser.driver
    driver.set_window_size(width, height)
    inner = driver.execute_script("return window.innerWidth")
    if inner != width:  # a window frame: grow the window by its width
        driver.set_window_size(width + (width - inner), height)


def axe_violations(browser: Browser) -> list[dict]:
    """axe-core's serious and critical violations on the open page (rule, impact, nodes).

    WebDriver's scripts are not subject to the page's CSP, so axe is injected as is."""
    ensure_axe()
    driver = browser.driver
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(60)
    result = driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(function (r) { done(r.violations.map(function (v) {"
        "  return {id: v.id, impact: v.impact, help: v.help,"
        "          nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(' '); })};"
        "})); }, function (e) { done([{id: 'axe-error', impact: 'critical', help: String(e),"
        " nodes: []}]); });")
    return [v for v in result if v["impact"] in SERIOUS]


def page_width(browser: Browser) -> int:
    return browser.driver.execute_script("return document.documentElement.scrollWidth")
