"""Open the review page in real headless Chromium and check what a person sees."""

import shutil

import pytest

from ecoreid_testutil import SCRIPT_NAME

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM or not DRIVER:
        pytest.skip("headless browser test needs Debian 'chromium' and 'chromium-driver' "
                    "(apt-get install -y --no-install-recommends chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1280,2000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def test_review_page_in_chromium(browser, small_run):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get((small_run.out / "review.html").resolve().as_uri())
    assert browser.title == "ecoreid review"
    # the hostile file name ran no script and is shown as text
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert SCRIPT_NAME in browser.find_element(By.TAG_NAME, "body").text
    # no broken image: every <img> decoded
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);")
    n_images = browser.execute_script("return document.images.length;")
    assert n_images > len(small_run.assignments) and broken == []
    # a known query shows its candidates, the right individual first
    a = small_run.assignments
    known = a[~a["is_new"] & (a["proposed_individual"] == a["true_individual"])].iloc[0]
    q = [d for d in browser.find_elements(By.CSS_SELECTOR, "div.query")
         if d.get_attribute("data-image") == known["image"]][0]
    assert q.is_displayed()
    ids = [e.text for e in q.find_elements(By.CSS_SELECTOR, ".cand .cand-id")]
    assert ids[0] == known["candidate_1"] == known["true_individual"]
    assert ids == [c for c in (known[f"candidate_{i}"] for i in range(1, 6)) if isinstance(c, str) and c]
    assert q.find_element(By.CSS_SELECTOR, ".known").text == known["proposed_individual"]
    # a flagged new individual is visibly marked
    new = browser.find_elements(By.CSS_SELECTOR, "div.query.new")
    assert len(new) == int(a["is_new"].sum()) > 0
    flag = new[0].find_element(By.CSS_SELECTOR, ".flag")
    assert flag.is_displayed() and "new individual" in flag.text
    # the network picture is there
    net = browser.find_element(By.CSS_SELECTOR, "#network img")
    assert browser.execute_script("return arguments[0].naturalWidth;", net) > 100
