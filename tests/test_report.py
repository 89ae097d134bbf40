"""The Snakemake report of the tiny end-to-end run, opened in a real headless browser (Debian's Chromium, which
.ci/run installs): the page loads without errors, and every figure and summary page the workflow wrote is in it,
filed under its family with a caption, and displays."""

import shutil
from pathlib import Path

import pytest
from workflow_runs import snakemake

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FAMILY_CATEGORIES = {"graphs": "Data", "gan": "Graph GAN", "anomaly": "Anomaly detection",  # results/<dir>/
                     "hgnn": "Track reconstruction", "pid": "Quark/gluon ID"}  # -> its report category
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000")


@pytest.fixture(scope="module")
def report(tiny_run):
    path = tiny_run / "results" / "report.html"
    snakemake("--configfile", "tiny.yaml", "--report", str(path), cwd=tiny_run)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(driver, script, timeout=60):
    """Wait until the JavaScript expression ``script`` is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(f"return {script}"))


def written(results: Path, suffixes: tuple[str, ...]) -> set[str]:
    return {str(p.relative_to(results.parent)) for p in results.rglob("*") if p.suffix in suffixes}


def test_report_loads_with_every_figure_and_page(report, browser, tiny_run):
    from selenium.webdriver.common.by import By

    browser.get(report.as_uri())
    wait_for(browser, "typeof app !== 'undefined' && document.querySelectorAll('#app *').length > 20")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"the report logged errors: {errors}"

    entries = browser.execute_script("return results")
    figures = written(tiny_run / "results", (".png", ".svg", ".pdf"))
    pages = {page for page in written(tiny_run / "results", (".html",)) if not page.endswith("report.html")}
    assert figures and pages
    assert figures | pages <= set(entries), f"not in the report: {sorted((figures | pages) - set(entries))}"

    categories = browser.execute_script("return categories")
    for path in figures | pages:
        family = FAMILY_CATEGORIES[Path(path).parts[1]]
        assert any(path in results for results in categories[family].values()), f"{path} not under {family}"
        assert entries[path]["caption"].strip(), f"{path} has no caption"

    for path in sorted(figures):  # what the figure's view button does: show it, then check that it decoded
        browser.execute_script("app.setView({content: 'img', contentPath: results[arguments[0]].data_uri, "
                               "resultPath: arguments[0]})", path)
        width = wait_for(browser, "(() => { const img = [...document.images].find(i => i.src === "
                                  f"results[{path!r}].data_uri); return img && img.complete && img.naturalWidth; }})()")
        assert width > 100, path
    for path in sorted(pages):  # a summary page opens in a frame and shows its tables
        browser.execute_script("app.setView({content: 'html', contentPath: results[arguments[0]].data_uri, "
                               "resultPath: arguments[0]})", path)
        browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
        assert wait_for(browser, "document.querySelectorAll('table').length"), path
        browser.switch_to.default_content()
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_report_menu_shows_a_family(report, browser):
    """Click through the menu as a reader would: a family under the Results heading, one of its runs, one of its
    figures."""
    from selenium.webdriver.common.by import By

    browser.get(report.as_uri())
    wait_for(browser, "document.body.innerText.includes('Results')")
    for text in ("Graph GAN", "jetnet_g"):
        wait_for(browser, f"document.body.innerText.includes({text!r})")
        browser.find_element(By.XPATH, f"//a[normalize-space(.)={text!r}]").click()
    wait_for(browser, "document.body.innerText.includes('samples.png')")
