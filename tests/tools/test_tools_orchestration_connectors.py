"""Master orchestrator tools and the SaaS connectors (no network: a fake transport answers)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from activities.tools import connectors
from activities.tools.connectors import ConnectorError, ConnectorNotConfigured, PreparedRequest
from activities.tools.errors import InvalidToolInput
from activities.tools.orchestration import WORKFLOWS, extract_params
from activities.tools.registry import TOOLS

GOALS = {
    "content_creation": [
        "Write a blog post about zero-trust security",
        "Draft a whitepaper on data privacy for our newsletter",
    ],
    "marketing_campaign": [
        "Run a paid ads campaign for the spring launch with a $20k budget",
        "Promote our webinar with social media ads",
    ],
    "competitive_analysis": [
        "Compare our pricing against Acme and Globex",
        "Do a teardown of our top competitors",
    ],
    "development_sprint": [
        "Plan the next sprint to implement the billing API",
        "Fix the login bug and refactor the auth code",
    ],
    "trading_strategy": [
        "Backtest a momentum strategy on $SPY",
        "Generate trading signals for my crypto portfolio",
    ],
    "gaming_event": [
        "Organise a 64 players esports tournament",
        "Set up a bracket and leaderboard for the season finale game",
    ],
    "customer_onboarding": [
        "Onboard 20 new customers this week",
        "Improve activation in the welcome flow for new customers",
    ],
    "ecommerce_sourcing": [
        "Find suppliers in Vietnam and compute landed cost",
        "Source a new manufacturer for our phone cases",
    ],
    "ecommerce_operations": [
        "Improve conversion rate of our Shopify store listings",
        "Handle returns and orders backlog in the store",
    ],
    "inventory_logistics": [
        "Reorder stock for the warehouse before the holiday",
        "Set safety stock levels to avoid a stockout",
    ],
    "crisis_management": [
        "Our checkout had an outage and customers are angry on twitter",
        "Respond to negative press about the data breach",
    ],
    "performance_review": [
        "Prepare the quarterly review of our KPIs",
        "Review our OKRs and results for Q3",
    ],
}


@pytest.mark.parametrize(("template", "goal"), [(t, g) for t, gs in GOALS.items() for g in gs])
def test_goal_planner_picks_the_template(template: str, goal: str) -> None:
    assert TOOLS["goal_planner"].run({"goal": goal}).template == template


def test_goal_planner_knows_all_twelve_templates() -> None:
    assert set(WORKFLOWS) == set(GOALS) and len(WORKFLOWS) == 12


def test_goal_params_are_extracted() -> None:
    p = extract_params(
        "Run a campaign on LinkedIn and email for the spring launch with a $20k budget by March 15"
    )
    assert (
        p["budget"] == 20_000
        and p["channels"] == ["email", "linkedin"]
        and p["deadline"] == "March 15"
    )
    assert p["topic"] == "spring launch"
    assert extract_params("Compare us against Acme, Initech and Globex Corp")["competitors"] == [
        "Acme",
        "Initech",
        "Globex Corp",
    ]
    assert extract_params("Backtest $SPY and ticker QQQ")["symbols"] == ["SPY", "QQQ"]
    assert extract_params("A tournament for 50 players")["players"] == 50
    with pytest.raises(InvalidToolInput, match="cannot map"):
        TOOLS["goal_planner"].run({"goal": "hmm"})


def test_output_review_flags_gaps_and_contradictions(tmp_path: Path) -> None:
    real = tmp_path / "report.csv"
    real.write_text("x\n")
    outputs = {
        "analytics": {
            "headline": "Revenue 1.2M",
            "metrics": {"revenue": 1_200_000, "win_rate": 0.4},
            "recommendations": ["a"],
            "artifacts": [str(real)],
        },
        "finance": {
            "headline": "Plan",
            "metrics": {"revenue": 1_500_000, "conversion_rate": 3.5},
            "recommendations": [],
            "table_path": str(tmp_path / "missing.csv"),
        },
        "draft": {"title": "Post", "body": ""},
    }
    r = TOOLS["output_review"].run(
        {
            "outputs": outputs,
            "required_fields": {"draft": ["title", "body"]},
            "output_dir": str(tmp_path),
        }
    )
    steps = {s.step: s for s in r.steps}
    assert steps["analytics"].problems == [] and steps["analytics"].completeness == 1.0
    assert "no recommendations" in steps["finance"].problems
    assert "metric conversion_rate=3.5 is outside 0..1" in steps["finance"].problems
    assert any("missing.csv does not exist" in p for p in steps["finance"].problems)
    assert steps["draft"].problems == ["required field 'body' is missing or empty"]
    assert r.inconsistencies == ["revenue: analytics says 1.2e+06, finance says 1.5e+06"]
    assert r.verdict == "revise"
    clean = TOOLS["output_review"].run(
        {
            "outputs": {"a": outputs["analytics"], "b": {**outputs["analytics"], "artifacts": []}},
            "output_dir": str(tmp_path),
        }
    )
    assert clean.score == 100 and clean.verdict == "approve"


# --------------------------------------------------------------------------- connectors


class FakeTransport:
    def __init__(self, status: int = 200, body: object = None) -> None:
        self.status = status
        self.body = (
            body
            if isinstance(body, bytes)
            else json.dumps(body if body is not None else {}).encode()
        )
        self.requests: list[PreparedRequest] = []

    def __call__(self, req: PreparedRequest, timeout: float) -> tuple[int, bytes]:
        self.requests.append(req)
        return self.status, self.body


@pytest.fixture
def fake():
    transport = FakeTransport()
    previous = connectors.set_transport(transport)
    yield transport
    connectors.set_transport(previous)


def test_not_configured_names_the_missing_secrets(isolated_secrets) -> None:
    isolated_secrets.values["GOOGLE_ADS_DEVELOPER_TOKEN"] = "dev"
    with pytest.raises(ConnectorNotConfigured) as err:
        TOOLS["google_ads"].run({})
    assert err.value.missing == ["GOOGLE_ADS_ACCESS_TOKEN", "GOOGLE_ADS_CUSTOMER_ID"]
    assert "No data was fetched" in str(err.value)
    with pytest.raises(
        ConnectorNotConfigured, match="SALESFORCE_INSTANCE_URL, SALESFORCE_ACCESS_TOKEN"
    ):
        TOOLS["crm"].run({"provider": "salesforce"})


def test_google_ads_request_and_rows(isolated_secrets, fake, out: str) -> None:
    isolated_secrets.values.update(
        {
            "GOOGLE_ADS_DEVELOPER_TOKEN": "dev-tok",
            "GOOGLE_ADS_ACCESS_TOKEN": "oauth",
            "GOOGLE_ADS_CUSTOMER_ID": "123-456-7890",
            "GOOGLE_ADS_LOGIN_CUSTOMER_ID": "111-222-3333",
        }
    )
    fake.body = json.dumps(
        [
            {"results": [{"campaign": {"id": "1", "name": "Brand"}, "metrics": {"clicks": "10"}}]},
            {"results": [{"campaign": {"id": "2", "name": "Generic"}, "metrics": {"clicks": "4"}}]},
        ]
    ).encode()
    r = TOOLS["google_ads"].run({"output_dir": out})
    req = fake.requests[0]
    assert req.method == "POST" and req.url.endswith("/customers/1234567890/googleAds:searchStream")
    assert (
        req.headers["developer-token"] == "dev-tok"
        and req.headers["Authorization"] == "Bearer oauth"
        and req.headers["login-customer-id"] == "1112223333"
    )
    assert json.loads(req.body or b"")["query"].startswith("SELECT campaign.id")
    assert r.rows == 2 and r.preview[1] == {
        "campaign.id": "2",
        "campaign.name": "Generic",
        "metrics.clicks": "4",
    }
    assert json.loads(Path(r.rows_path).read_text())[0]["campaign.name"] == "Brand"


def test_meta_linkedin_ga4_requests(isolated_secrets, fake, out: str) -> None:
    isolated_secrets.values.update(
        {
            "META_ACCESS_TOKEN": "m",
            "META_AD_ACCOUNT_ID": "act_42",
            "LINKEDIN_ACCESS_TOKEN": "l",
            "LINKEDIN_AD_ACCOUNT_ID": "99",
            "GA4_ACCESS_TOKEN": "g",
            "GA4_PROPERTY_ID": "555",
        }
    )
    fake.body = json.dumps({"data": [{"campaign_name": "A", "spend": "12.5"}]}).encode()
    assert TOOLS["meta_ads"].run({"output_dir": out}).rows == 1
    meta = urlsplit(fake.requests[-1].url)
    assert meta.path.endswith("/act_42/insights") and parse_qs(meta.query)["date_preset"] == [
        "last_30d"
    ]
    fake.body = json.dumps({"elements": [{"impressions": 5}, {"impressions": 7}]}).encode()
    assert TOOLS["linkedin_ads"].run({"output_dir": out}).rows == 2
    li = fake.requests[-1]
    assert (
        "accounts=List(urn%3Ali%3AsponsoredAccount%3A99)" in li.url
        and li.headers["X-Restli-Protocol-Version"] == "2.0.0"
    )
    fake.body = json.dumps(
        {
            "dimensionHeaders": [{"name": "date"}],
            "metricHeaders": [{"name": "sessions"}],
            "rows": [
                {"dimensionValues": [{"value": "20250101"}], "metricValues": [{"value": "42"}]}
            ],
        }
    ).encode()
    r = TOOLS["ga4"].run({"output_dir": out})
    assert (
        fake.requests[-1].url
        == "https://analyticsdata.googleapis.com/v1beta/properties/555:runReport"
    )
    assert json.loads(fake.requests[-1].body or b"")["metrics"][0] == {"name": "sessions"}
    assert r.preview == [{"date": "20250101", "sessions": 42.0}]


def test_mailchimp_semrush_ahrefs_mixpanel(isolated_secrets, fake, out: str) -> None:
    isolated_secrets.values.update(
        {
            "MAILCHIMP_API_KEY": "abc-us21",
            "SEMRUSH_API_KEY": "sk",
            "AHREFS_API_KEY": "ak",
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME": "u",
            "MIXPANEL_SERVICE_ACCOUNT_SECRET": "s",
            "MIXPANEL_PROJECT_ID": "7",
        }
    )
    fake.body = json.dumps(
        {
            "reports": [
                {
                    "id": "c1",
                    "campaign_title": "May",
                    "emails_sent": 100,
                    "opens": {"open_rate": 0.4},
                    "clicks": {"click_rate": 0.05},
                }
            ]
        }
    ).encode()
    r = TOOLS["mailchimp"].run({"output_dir": out})
    req = fake.requests[-1]
    assert req.url.startswith("https://us21.api.mailchimp.com/3.0/reports")
    assert base64.b64decode(req.headers["Authorization"].split()[1]).decode() == "bizos:abc-us21"
    assert r.preview[0]["open_rate"] == 0.4
    fake.body = b"Keyword;Search Volume;CPC\nrunning shoes;74000;1.2\n"
    r = TOOLS["semrush"].run({"phrase": "running shoes", "output_dir": out})
    assert r.preview == [{"Keyword": "running shoes", "Search Volume": "74000", "CPC": "1.2"}]
    assert "key=***" in r.request and "sk" not in r.request  # the key never appears in outputs
    fake.body = json.dumps({"domain_rating": {"domain_rating": 71, "ahrefs_rank": 1234}}).encode()
    r = TOOLS["ahrefs"].run({"target": "example.com", "output_dir": out})
    assert r.preview == [{"domain_rating.domain_rating": 71, "domain_rating.ahrefs_rank": 1234}]
    fake.body = json.dumps(
        {"data": {"values": {"Signup": {"2025-01-02": 5, "2025-01-01": 3}}}}
    ).encode()
    r = TOOLS["mixpanel"].run({"event": "Signup", "output_dir": out})
    assert [x["count"] for x in r.preview] == [3, 5]
    assert parse_qs(urlsplit(fake.requests[-1].url).query)["project_id"] == ["7"]


@pytest.mark.parametrize(
    ("provider", "secrets", "body", "url_part", "row"),
    [
        (
            "hubspot",
            {"HUBSPOT_ACCESS_TOKEN": "h"},
            {"results": [{"id": "1", "properties": {"email": "a@b.com"}}]},
            "api.hubapi.com/crm/v3/objects/contacts/search",
            {"id": "1", "email": "a@b.com"},
        ),
        (
            "salesforce",
            {
                "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com",
                "SALESFORCE_ACCESS_TOKEN": "s",
            },
            {"records": [{"attributes": {}, "Id": "003", "Email": "a@b.com"}]},
            "acme.my.salesforce.com/services/data/",
            {"Id": "003", "Email": "a@b.com"},
        ),
        (
            "zoho",
            {"ZOHO_ACCESS_TOKEN": "z"},
            {"data": [{"Email": "a@b.com"}]},
            "www.zohoapis.com/crm/v6/Contacts",
            {"Email": "a@b.com"},
        ),
    ],
)
def test_crm_providers(
    provider, secrets, body, url_part, row, isolated_secrets, fake, out: str
) -> None:
    isolated_secrets.values.update(secrets)
    fake.body = json.dumps(body).encode()
    r = TOOLS["crm"].run({"provider": provider, "object": "contacts", "output_dir": out})
    assert url_part in fake.requests[-1].url and r.preview == [row]


def test_http_errors_become_connector_errors(isolated_secrets, fake) -> None:
    isolated_secrets.values["AHREFS_API_KEY"] = "bad"
    fake.status, fake.body = 401, b'{"error": "invalid token"}'
    with pytest.raises(ConnectorError, match="HTTP 401 \\(check the credentials\\)"):
        TOOLS["ahrefs"].run({"target": "example.com"})
    isolated_secrets.values["MAILCHIMP_API_KEY"] = "nodash"
    with pytest.raises(InvalidToolInput, match="data centre"):
        TOOLS["mailchimp"].run({})
