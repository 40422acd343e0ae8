#!/usr/bin/python3
"""The dashboard in a real browser (headless Chromium through chromium-driver and Selenium, all
from Debian's packages), against a centre that real office daemons sync with. Started by
scripts/dashboard-test.sh (make dashboard-test), which sets up the centre, the offices, the data
and the user, and passes what it made in the environment:

  DASHBOARD_URL, DASHBOARD_USER, DASHBOARD_PASSWORD  the centre and a dashboard user
  STOP_OFFICE_79   a command that stops office 79's daemon (the office that goes silent)
  SILENT_AFTER     seconds of silence after which the centre shows an office degraded
  SCREENSHOTS      a folder for screenshots of the pages (optional)

It checks: a page without a session redirects to the login; the login works and a wrong password
does not; the progress page's figures equal the reports' (56.3 / 8.3 / 14.8 %); CSV links are
there; a province's drill-down lists its projects; both offices are green, and office 79 turns to
the degraded colour once it stops syncing; logout ends the session. Exit 1 on the first failure.
"""
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["DASHBOARD_URL"]
USER = os.environ["DASHBOARD_USER"]
PASSWORD = os.environ["DASHBOARD_PASSWORD"]
SILENT_AFTER = int(os.environ.get("SILENT_AFTER", "10"))
SHOTS = os.environ.get("SCREENSHOTS")

failures = []


def check(what, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + what + (f" ({detail})" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def shot(driver, name, height=None):
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    # The whole page: as tall as its content, so nothing is cut off.
    full = height or driver.execute_script("return document.body.scrollHeight") + 40
    driver.set_window_size(1400, min(max(full, 600), 4000))
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def settle(driver, condition):
    """Waits (up to 15 s) until a navigation a click started has landed: a form post and its
    redirect take a moment, and reading the page before then reads the old one."""
    try:
        WebDriverWait(driver, 15).until(lambda d: condition(d))
    except Exception:
        pass


def row(driver, office):
    for tr in driver.find_elements(By.CSS_SELECTOR, "tbody tr"):
        cells = tr.find_elements(By.TAG_NAME, "td")
        if cells and cells[0].text == office:
            return tr
    return None


def main():
    options = Options()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=vi"]:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    # JavaScript off: the pages must work without it.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        run(driver)
    finally:
        driver.quit()
    if failures:
        print(f"dashboard-test: {len(failures)} check(s) failed: {', '.join(failures)}", file=sys.stderr)
        sys.exit(1)
    print("dashboard-test: ok")


def run(driver):
    driver.get(URL + "/dashboard/progress?year=2025&cutoff=2025-09-30&region=south")
    check("a page without a session redirects to the login", "/dashboard/login" in driver.current_url, driver.current_url)
    shot(driver, "dashboard-login", 600)

    def login(password):
        driver.find_element(By.NAME, "name").send_keys(USER)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    login("not the password")
    settle(driver, lambda d: "Sai tên" in d.page_source)
    check("a wrong password is refused", "/dashboard/login" in driver.current_url and "Sai tên" in driver.page_source)
    login(PASSWORD)
    settle(driver, lambda d: "/dashboard/progress" in d.current_url)
    url = driver.current_url
    check("the login returns to the page asked for", "/dashboard/progress" in url, url)

    figure = lambda name: driver.find_element(By.CSS_SELECTOR, f'[data-figure="{name}"]').text
    check("plan 56.3 bn", figure("plan") == "56.3", figure("plan"))
    check("disbursed 8.3 bn by 30 September", figure("disbursed") == "8.3", figure("disbursed"))
    check("14.8 % disbursed", figure("percent") == "14.8 %", figure("percent"))
    check("a bar chart drawn as inline SVG", len(driver.find_elements(By.CSS_SELECTOR, "main svg rect")) >= 4)
    csv_links = driver.find_elements(By.CSS_SELECTOR, "caption a.csv")
    check("every table has a CSV link", len(csv_links) == len(driver.find_elements(By.TAG_NAME, "table")) > 0)
    shot(driver, "dashboard-progress")

    driver.find_element(By.LINK_TEXT, "80").click()
    settle(driver, lambda d: "/dashboard/province/80" in d.current_url)
    check("the drill-down shows a province's projects", "/dashboard/province/80" in driver.current_url and "KC-2025" in driver.page_source)
    shot(driver, "dashboard-province")

    driver.get(URL + "/dashboard/fleet")
    r79, r80 = row(driver, "79"), row(driver, "80")
    check("both offices are listed", r79 is not None and r80 is not None)
    check("office 79 is green while it syncs", r79.get_attribute("class") == "ok", r79.get_attribute("class"))
    check("office 80 is green", r80.get_attribute("class") == "ok", r80.get_attribute("class"))
    shot(driver, "dashboard-fleet")

    subprocess.run(os.environ["STOP_OFFICE_79"], shell=True, check=True)
    time.sleep(SILENT_AFTER + 3)
    driver.refresh()
    r79, r80 = row(driver, "79"), row(driver, "80")
    colour = r79.value_of_css_property("background-color")
    check("office 79 turns to the degraded colour once it stops syncing", r79.get_attribute("class") == "degraded" and colour == "rgba(255, 248, 225, 1)", f"{r79.get_attribute('class')} {colour}")
    check("office 80 stays green", r80.get_attribute("class") == "ok", r80.get_attribute("class"))
    first = driver.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")[0].text
    check("the silent office is listed first", first == "79", first)
    shot(driver, "dashboard-fleet-degraded")

    driver.get(URL + "/dashboard/conflicts")
    check("the conflicts page opens", "Xung đột" in driver.title)
    shot(driver, "dashboard-conflicts")

    driver.find_element(By.CSS_SELECTOR, "nav form button").click()
    settle(driver, lambda d: "/dashboard/login" in d.current_url)
    driver.get(URL + "/dashboard/fleet")
    url = driver.current_url
    check("after logout the pages need a login again", "/dashboard/login" in url, url)


if __name__ == "__main__":
    main()
