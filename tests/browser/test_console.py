"""The web console in a real browser: Debian's Chromium, headless, driven by Selenium against a live server.

Skipped, saying why, when Chromium or its driver is absent (`.ci/run` installs them). With
TRENT_CONSOLE_SCREENSHOTS=DIR, the main pages are saved there as PNGs (docs/console.md's come from this run).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import TrentServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="the console's browser tests need Chromium and chromedriver (Debian: apt-get install chromium "
    "chromium-driver; .ci/run installs them)",
)
A = "000000000000"
SHOTS = os.environ.get("TRENT_CONSOLE_SCREENSHOTS")


@pytest.fixture(scope="module")
def trent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    server = TrentServer(tmp_path_factory.mktemp("console") / "data")
    server.init()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.implicitly_wait(10)  # a shared 2-core machine: pages may take a moment under load
    yield driver
    driver.quit()


def sign_in(browser: Any, trent: TrentServer, access_key: str, secret: str) -> None:
    browser.get(trent.endpoint + "/console/")
    assert "Sign in" in browser.title
    browser.find_element("id", "access_key_id").send_keys(access_key)
    browser.find_element("id", "secret_access_key").send_keys(secret)
    browser.find_element("css selector", "form.stack button[type=submit]").click()
    wait_until(browser, lambda: "/console/login" not in browser.current_url or "error" in browser.page_source)


def wait_until(browser: Any, condition: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15).until(lambda _: condition())


def shot(browser: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def test_sign_in_create_a_key_grant_and_revoke(browser: Any, trent: TrentServer) -> None:
    sign_in(browser, trent, *trent.admin_credentials())
    assert browser.current_url.endswith("/console/keys")
    # An XSS payload in a description is shown as text, never run.
    description = f"<script>document.title='pwned'</script><img src=x onerror=alert(1)> {uuid.uuid4().hex[:6]}"
    browser.find_element("id", "description").send_keys(description)
    browser.find_element("xpath", "//button[text()='Create a symmetric key']").click()
    wait_until(browser, lambda: "/console/keys/" in browser.current_url)
    assert "pwned" not in browser.title
    assert description in browser.find_element("css selector", "dl.facts").text
    assert not browser.find_elements("css selector", "dl.facts script, dl.facts img")
    key_url = browser.current_url
    bob = trent.admin("user", "create", A, f"bob{uuid.uuid4().hex[:6]}")
    browser.find_element("id", "grantee").send_keys(bob["Arn"])
    browser.find_element("id", "operations").send_keys("Encrypt Decrypt")
    browser.find_element("id", "context").send_keys("team=blue")
    browser.find_element("id", "name").send_keys("bob-blue")
    browser.find_element("xpath", "//button[text()='Create grant']").click()
    token = browser.find_element("css selector", "pre.token").text
    assert len(token) > 40
    shot(browser, "key")
    # The token works, at once, through the API.
    kms = trent.client("kms", access_key=bob["AccessKeyId"], secret_key=bob["SecretAccessKey"])
    key_id = key_url.split("/console/keys/")[1].split("?")[0]
    kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"team": "blue"}, GrantTokens=[token])
    rows = browser.find_elements("xpath", "//td[text()='bob-blue']")
    assert len(rows) == 1
    browser.find_element("css selector", "button[aria-label^='Revoke grant']").click()
    assert "RevokeGrant done" in browser.find_element("css selector", "p.note").text
    assert not browser.find_elements("xpath", "//td[text()='bob-blue']")
    browser.get(trent.endpoint + "/console/keys")
    shot(browser, "keys")
    assert key_id in browser.page_source


def test_audit_trail_filters_and_explain_names_the_grant(browser: Any, trent: TrentServer) -> None:
    kms = trent.client("kms")
    key_id = kms.create_key(Description="explained")["KeyMetadata"]["KeyId"]
    carol = trent.admin("user", "create", A, f"carol{uuid.uuid4().hex[:6]}")
    kms.create_grant(
        KeyId=key_id,
        GranteePrincipal=carol["Arn"],
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"team": "blue"}},
        Name="carol-blue",
    )
    sign_in(browser, trent, *trent.admin_credentials())
    browser.get(trent.endpoint + "/console/audit?event=CreateGrant")
    shot(browser, "audit")
    assert "CreateGrant" in browser.page_source and "DescribeKey" not in browser.find_element("tag name", "tbody").text
    browser.get(trent.endpoint + "/console/explain")
    principal = browser.find_element("id", "principal")
    principal.clear()
    principal.send_keys(carol["Arn"])
    browser.find_element("id", "key").send_keys(key_id)
    browser.find_element("id", "context").send_keys("team=red")
    browser.find_element("xpath", "//button[text()='Explain']").click()
    browser.find_element("css selector", "h2.denied")  # waits for the answer
    shot(browser, "explain")
    assert browser.find_element("css selector", "h2.denied").text == "DENIED"
    assert "EncryptionContextSubset {team=blue} is not satisfied by {team=red}" in browser.page_source


def test_a_user_sees_only_what_its_policies_allow(browser: Any, trent: TrentServer, tmp_path: Path) -> None:
    dave = trent.admin("user", "create", A, f"dave{uuid.uuid4().hex[:6]}")
    sign_in(browser, trent, dave["AccessKeyId"], dave["SecretAccessKey"])
    assert "AccessDeniedException" in browser.page_source  # no kms:ListKeys
    browser.get(trent.endpoint + "/console/audit")
    assert "needs trent:ReadAudit" in browser.page_source
    policy = tmp_path / "p.json"
    policy.write_text(
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "trent:ReadAudit", "Resource": "*"}]}
        )
    )
    trent.admin("policy", "put", dave["Arn"], "audit", str(policy))
    browser.get(trent.endpoint + "/console/audit")
    assert "Audit trail" in browser.find_element("tag name", "h1").text
    # Revoking the key ends the session at once.
    trent.admin("access-key", "delete", dave["AccessKeyId"])
    browser.get(trent.endpoint + "/console/keys")
    assert "Sign in" in browser.title


def test_wrong_secret_and_forged_posts_are_refused(trent: TrentServer) -> None:
    access_key, secret = trent.admin_credentials()

    def post(path: str, data: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(
            trent.endpoint + path, data=urllib.parse.urlencode(data).encode(), headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert post("/console/login", {"access_key_id": access_key, "secret_access_key": secret + "x"})[0] == 401
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    signed = urllib.parse.urlencode({"access_key_id": access_key, "secret_access_key": secret}).encode()
    with opener.open(trent.endpoint + "/console/login", data=signed) as response:
        cookie = response.headers.get("Set-Cookie") or ""
        assert response.status == 200
    session = next(iter(c for c in opener.handlers if isinstance(c, urllib.request.HTTPCookieProcessor))).cookiejar
    cookie = "; ".join(f"{c.name}={c.value}" for c in session)
    before = len(trent.client("kms").list_keys(Limit=1000)["Keys"])
    # Signed in, but no form token: a cross-site form cannot carry it.
    assert post("/console/keys", {"description": "forged"}, {"Cookie": cookie})[0] == 403
    assert post("/console/keys", {"description": "forged", "csrf": "guess"}, {"Cookie": cookie})[0] == 403
    evil = {"Cookie": cookie, "Origin": "http://evil.example"}
    assert post("/console/keys", {"description": "forged"}, evil)[0] == 403
    assert len(trent.client("kms").list_keys(Limit=1000)["Keys"]) == before
    with urllib.request.urlopen(trent.endpoint + "/console/login", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


def test_a_lineage_of_three_grants(browser: Any, trent: TrentServer) -> None:
    kms = trent.client("kms")
    key_id = kms.create_key(Description="lineage")["KeyMetadata"]["KeyId"]
    users = [trent.admin("user", "create", A, f"l{i}{uuid.uuid4().hex[:6]}") for i in range(3)]
    clients = [trent.client("kms", access_key=u["AccessKeyId"], secret_key=u["SecretAccessKey"]) for u in users]
    # The key policy lets the admin create the first grant; each grantee passes a narrower one on.
    kms.create_grant(
        KeyId=key_id, GranteePrincipal=users[0]["Arn"], Operations=["CreateGrant", "Encrypt", "Decrypt"], Name="first"
    )
    clients[0].create_grant(
        KeyId=key_id, GranteePrincipal=users[1]["Arn"], Operations=["CreateGrant", "Encrypt"], Name="second"
    )
    clients[1].create_grant(KeyId=key_id, GranteePrincipal=users[2]["Arn"], Operations=["Encrypt"], Name="third")
    sign_in(browser, trent, *trent.admin_credentials())
    browser.get(f"{trent.endpoint}/console/keys/{key_id}")
    browser.find_element("partial link text", "Lineage").click()
    items = browser.find_elements("css selector", "ul.tree li")
    depths = {item.find_element("tag name", "strong").text: int(item.get_attribute("data-depth")) for item in items}
    assert depths == {"first": 0, "second": 1, "third": 2}
    shot(browser, "lineage")


def test_edit_tags_aliases_and_a_policy_with_the_lockout_message(browser: Any, trent: TrentServer) -> None:
    key_id = trent.client("kms").create_key(Description="edited")["KeyMetadata"]["KeyId"]
    sign_in(browser, trent, *trent.admin_credentials())
    browser.get(f"{trent.endpoint}/console/keys/{key_id}")
    browser.find_element("id", "tag_key").send_keys("team")
    browser.find_element("id", "tag_value").send_keys("<b>blue</b>")
    browser.find_element("xpath", "//button[text()='Add tag']").click()
    wait_until(browser, lambda: "TagResource done" in browser.page_source)
    assert "TagResource done" in browser.find_element("css selector", "p.note").text
    assert "team = <b>blue</b>" in browser.page_source.replace("&lt;", "<").replace("&gt;", ">")
    alias = f"alias/console-{uuid.uuid4().hex[:6]}"
    browser.find_element("id", "alias").send_keys(alias)
    browser.find_element("xpath", "//button[text()='Add alias']").click()
    wait_until(browser, lambda: "CreateAlias done" in browser.page_source)
    assert trent.client("kms").describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_id
    locked_out = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                }
            ],
        }
    )
    policy = browser.find_element("id", "policy")
    policy.clear()
    policy.send_keys(locked_out)
    browser.find_element("xpath", "//button[text()='Save the key policy']").click()
    assert "The new key policy will not allow you to update the key policy in the future." in (
        browser.find_element("css selector", "p.error").text
    )
    assert "kms:*" in trent.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]  # unchanged
    browser.find_element("css selector", "button[aria-label='Remove tag team']").click()
    wait_until(browser, lambda: "UntagResource done" in browser.page_source)
    assert trent.client("kms").list_resource_tags(KeyId=key_id)["Tags"] == []


def test_a_one_time_sign_in_link_works_once(browser: Any, trent: TrentServer) -> None:
    erin = trent.admin("user", "create", A, f"erin{uuid.uuid4().hex[:6]}")
    link = trent.admin("console-login", erin["Arn"])["Url"]
    assert link.startswith(trent.endpoint + "/console/login?once=")
    browser.get(link)
    wait_until(browser, lambda: "/console/keys" in browser.current_url)
    assert erin["Arn"] in browser.find_element("css selector", "form.who span").text
    browser.delete_all_cookies()
    browser.get(link)  # used already
    assert "used or has expired" in browser.page_source


def test_grants_across_keys_with_filters_and_retire(browser: Any, trent: TrentServer) -> None:
    kms = trent.client("kms")
    frank = trent.admin("user", "create", A, f"frank{uuid.uuid4().hex[:6]}")
    first, second = (kms.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"] for i in range(2))
    kms.create_grant(KeyId=first, GranteePrincipal=frank["Arn"], Operations=["Encrypt"], Name="frank-encrypt")
    kms.create_grant(KeyId=second, GranteePrincipal=frank["Arn"], Operations=["Decrypt"], Name="frank-decrypt")
    sign_in(browser, trent, *trent.admin_credentials())
    browser.get(f"{trent.endpoint}/console/keys?q={first}")
    [row] = browser.find_elements("xpath", f"//tr[td/a[text()='{first}']]")
    cells = [cell.text for cell in row.find_elements("tag name", "td")]
    assert cells[-2:] == ["off", "1"]  # rotation, grants
    browser.get(f"{trent.endpoint}/console/grants?grantee={urllib.parse.quote(frank['Arn'])}")
    shot(browser, "grants")
    names = {cell.text for cell in browser.find_elements("xpath", "//tbody/tr/td[3]")}
    assert names == {"frank-encrypt", "frank-decrypt"}
    browser.get(f"{trent.endpoint}/console/grants?grantee={urllib.parse.quote(frank['Arn'])}&operation=Decrypt")
    assert {cell.text for cell in browser.find_elements("xpath", "//tbody/tr/td[3]")} == {"frank-decrypt"}
    browser.get(f"{trent.endpoint}/console/keys/{first}")
    browser.find_element("css selector", "button[aria-label^='Retire grant']").click()
    wait_until(browser, lambda: "RetireGrant done" in browser.page_source)
    assert [g["Name"] for g in kms.list_grants(KeyId=first)["Grants"]] == []
    browser.get(f"{trent.endpoint}/console/identities")
    assert frank["Arn"] in browser.page_source
