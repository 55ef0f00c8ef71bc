"""The web console in headless Chromium through WebDriver (python3-selenium, chromium-driver),
for the browser tests. Screenshots go under build/artifacts/console/ (TXMAIL_ARTIFACTS
overrides build/artifacts)."""
import os
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from txmail_harness import fail

HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.path.join(os.environ.get("TXMAIL_ARTIFACTS", os.path.join(HERE, "../../build/artifacts")), "console")


class Browser:
    def __init__(self, base):
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
            opts.add_argument(a)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.base = base

    def wait(self, what, condition, timeout=30):
        try:
            # Pages that refresh themselves (the queues, the overview) replace their elements
            # while a condition reads them: a stale element means "look again", not a failure.
            return WebDriverWait(self.driver, timeout,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(condition)
        except TimeoutException:
            self.shot("failed-" + what.replace(" ", "-"))
            fail(f"timed out waiting in the browser for {what}")

    def find(self, what, css, timeout=30):
        return self.wait(what, ec.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def go(self, hash_):
        self.driver.get(f"{self.base}/console/{hash_}")

    def shot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.driver.save_screenshot(os.path.join(ARTIFACTS, name + ".png"))

    def session_cookie(self):
        c = self.driver.get_cookie("txmail_session")
        return c["value"] if c else None

    def login(self, key):
        self.go("")
        field = self.find("the login form", "#token")
        field.clear()
        field.send_keys(key)
        self.driver.find_element(By.CSS_SELECTOR, "#login").click()
        self.find("the navigation after login", "#nav a[href='#messages']")
        # The session's first page drawn: what the test asks for next is not drawn over by it.
        self.find("the first page after login", "main[data-page]")

    def search(self, recipient=""):
        self.go("#messages")
        field = self.find("the search form", "#search-recipient")
        field.clear()
        if recipient:
            field.send_keys(recipient)
        self.driver.find_element(By.CSS_SELECTOR, "#search").click()
        loaded = urllib.parse.urlencode({"recipient": recipient, "limit": 50} if recipient else {"limit": 50})
        self.find("search results", f"#results[data-loaded='{loaded}']")
        return {row.get_attribute("data-mail-id"): row.text
                for row in self.driver.find_elements(By.CSS_SELECTOR, "#message-table tr[data-mail-id]")}

    def quit(self):
        self.driver.quit()
