"""SaaS connectors: Google Ads, Meta Ads, LinkedIn Ads, Mailchimp, SEMrush, Ahrefs, GA4,
Mixpanel and a CRM (HubSpot, Salesforce, Zoho).

Each connector reads its credentials through `activities.secrets` and, when any is missing,
raises `ConnectorNotConfigured` naming exactly which secrets to set. It never returns made-up
data. With credentials it builds the provider's real request (endpoint, auth, payload), sends
it through a replaceable transport (urllib by default; tests install a fake, so no test ever
reaches the network) and turns the response into rows written under `output_dir`.

All calls are reads (reports and searches), so a retried activity attempt repeats them
harmlessly; a future write call must send an idempotency key derived from run + step.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import Field

from activities import secrets
from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolError, ToolInput, ToolOutput, tool

GOOGLE_ADS_API_VERSION = "v20"  # bump when Google sunsets it (about yearly)
META_GRAPH_VERSION = "v21.0"
LINKEDIN_VERSION = "202409"  # LinkedIn-Version header, YYYYMM
SALESFORCE_API_VERSION = "v61.0"
TIMEOUT_S = 30.0


class ConnectorNotConfigured(ToolError):
    """A connector has no credentials; the message names the secrets to set."""

    def __init__(self, connector: str, missing: list[str]) -> None:
        self.connector = connector
        self.missing = missing
        super().__init__(
            f"{connector} is not configured: set {', '.join(missing)} "
            "(environment variables or .env; a Vault backend can provide "
            "them later). No data was fetched."
        )


class ConnectorError(ToolError):
    """The provider answered with an error (status and a short excerpt in the message)."""


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def redacted(self) -> str:
        """For logs and outputs: the method and URL with secret query values masked."""
        parts = urllib.parse.urlsplit(self.url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        masked = [
            (k, "***" if k.lower() in ("key", "api_key", "access_token", "token") else v)
            for k, v in query
        ]
        query_text = urllib.parse.urlencode(masked, safe="(),:%*")
        return f"{self.method} {urllib.parse.urlunsplit(parts._replace(query=query_text))}"


Transport = Callable[[PreparedRequest, float], tuple[int, bytes]]


def urllib_transport(req: PreparedRequest, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(req.url, data=req.body, headers=req.headers, method=req.method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()
    except urllib.error.URLError as e:
        raise ConnectorError(
            f"cannot reach {urllib.parse.urlsplit(req.url).netloc}: {e.reason}"
        ) from e


_transport: Transport = urllib_transport


def set_transport(transport: Transport) -> Transport:
    """Install a transport (tests use a fake); returns the previous one."""
    global _transport
    previous, _transport = _transport, transport
    return previous


def require(connector: str, names: list[str]) -> dict[str, str]:
    values = {n: secrets.get_secret(n) for n in names}
    missing = [n for n, v in values.items() if not v]
    if missing:
        raise ConnectorNotConfigured(connector, missing)
    return {n: v for n, v in values.items() if v}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def basic(user: str, password: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        "Accept": "application/json",
    }


def json_body(data: Any) -> bytes:
    return json.dumps(data).encode()


def send(connector: str, req: PreparedRequest) -> bytes:
    status, body = _transport(req, TIMEOUT_S)
    if status >= 400:
        excerpt = body[:300].decode("utf-8", errors="replace")
        hint = (
            " (check the credentials)"
            if status in (401, 403)
            else " (rate limited: retry later)"
            if status == 429
            else ""
        )
        raise ConnectorError(
            f"{connector}: {req.redacted()} returned HTTP {status}{hint}: {excerpt}"
        )
    return body


def parse_json(connector: str, body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except json.JSONDecodeError as e:
        raise ConnectorError(f"{connector}: response is not JSON: {body[:120]!r}") from e


class ConnectorOutput(ToolOutput):
    connector: str = ""
    request: str = Field(default="", description="method and URL, secrets masked")
    rows: int = 0
    preview: list[dict[str, Any]] = Field(default_factory=list)
    rows_path: str = ""


def finish(
    inp: ToolInput, connector: str, req: PreparedRequest, rows: list[dict[str, Any]], what: str
) -> ConnectorOutput:
    writer = ArtifactWriter(inp, connector)
    path = writer.json(f"{connector}-rows", rows)
    return ConnectorOutput(
        headline=f"{connector}: fetched {len(rows)} {what} ({req.redacted().split('?')[0]}).",
        metrics={"rows": float(len(rows))},
        recommendations=[f"Rows are in {path}; analyse them with table_analytics or chart_render."],
        artifacts=writer.written,
        connector=connector,
        request=req.redacted(),
        rows=len(rows),
        preview=rows[:5],
        rows_path=path,
    )


def _last_days(days: int) -> tuple[date, date]:
    end = date.today()
    return end - timedelta(days=days), end


# --------------------------------------------------------------------------- google_ads


class GoogleAdsInput(ToolInput):
    customer_id: str = Field(
        default="", description="10-digit id; GOOGLE_ADS_CUSTOMER_ID when empty"
    )
    query: str = Field(
        default=(
            "SELECT campaign.id, campaign.name, metrics.impressions, metrics.clicks, "
            "metrics.cost_micros, metrics.conversions FROM campaign WHERE "
            "segments.date DURING LAST_30_DAYS"
        ),
        description="GAQL",
    )


def google_ads_request(inp: GoogleAdsInput) -> PreparedRequest:
    names = ["GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_ACCESS_TOKEN"] + (
        [] if inp.customer_id else ["GOOGLE_ADS_CUSTOMER_ID"]
    )
    s = require("google_ads", names)
    cid = (inp.customer_id or s["GOOGLE_ADS_CUSTOMER_ID"]).replace("-", "")
    if not cid.isdigit():
        raise InvalidToolInput(f"google_ads customer id must be digits, got {cid!r}")
    headers = {
        **bearer(s["GOOGLE_ADS_ACCESS_TOKEN"]),
        "developer-token": s["GOOGLE_ADS_DEVELOPER_TOKEN"],
        "Content-Type": "application/json",
    }
    login = secrets.get_secret("GOOGLE_ADS_LOGIN_CUSTOMER_ID")
    if login:
        headers["login-customer-id"] = login.replace("-", "")
    url = f"https://googleads.googleapis.com/{GOOGLE_ADS_API_VERSION}/customers/{cid}/googleAds:searchStream"
    return PreparedRequest("POST", url, headers, json_body({"query": inp.query}))


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


@tool(
    "google_ads",
    "Google Ads report (GAQL via searchStream); needs GOOGLE_ADS_* secrets, never fakes data",
)
def google_ads(inp: GoogleAdsInput) -> ConnectorOutput:
    req = google_ads_request(inp)
    data = parse_json("google_ads", send("google_ads", req))
    batches = data if isinstance(data, list) else [data]
    rows = [_flatten(r) for b in batches if isinstance(b, dict) for r in b.get("results", [])]
    return finish(inp, "google_ads", req, rows, "report rows")


# --------------------------------------------------------------------------- meta_ads


class MetaAdsInput(ToolInput):
    ad_account_id: str = Field(default="", description="META_AD_ACCOUNT_ID when empty")
    fields: list[str] = Field(
        default_factory=lambda: [
            "campaign_name",
            "impressions",
            "clicks",
            "spend",
            "ctr",
            "actions",
        ]
    )
    level: str = "campaign"
    date_preset: str = "last_30d"


def meta_ads_request(inp: MetaAdsInput) -> PreparedRequest:
    s = require(
        "meta_ads", ["META_ACCESS_TOKEN"] + ([] if inp.ad_account_id else ["META_AD_ACCOUNT_ID"])
    )
    account = (inp.ad_account_id or s["META_AD_ACCOUNT_ID"]).removeprefix("act_")
    query = urllib.parse.urlencode(
        {
            "fields": ",".join(inp.fields),
            "level": inp.level,
            "date_preset": inp.date_preset,
            "limit": 500,
        }
    )
    return PreparedRequest(
        "GET",
        f"https://graph.facebook.com/{META_GRAPH_VERSION}/act_{account}/insights?{query}",
        bearer(s["META_ACCESS_TOKEN"]),
    )


@tool("meta_ads", "Meta (Facebook/Instagram) Ads insights; needs META_* secrets, never fakes data")
def meta_ads(inp: MetaAdsInput) -> ConnectorOutput:
    req = meta_ads_request(inp)
    data = parse_json("meta_ads", send("meta_ads", req))
    return finish(
        inp,
        "meta_ads",
        req,
        list(data.get("data", [])) if isinstance(data, dict) else [],
        "insight rows",
    )


# --------------------------------------------------------------------------- linkedin_ads


class LinkedInAdsInput(ToolInput):
    account_id: str = Field(
        default="", description="sponsored account id; LINKEDIN_AD_ACCOUNT_ID when empty"
    )
    days: int = Field(default=30, ge=1, le=365)
    pivot: str = "CAMPAIGN"
    fields: list[str] = Field(
        default_factory=lambda: [
            "impressions",
            "clicks",
            "costInLocalCurrency",
            "externalWebsiteConversions",
            "pivotValues",
        ]
    )


def linkedin_ads_request(inp: LinkedInAdsInput) -> PreparedRequest:
    s = require(
        "linkedin_ads",
        ["LINKEDIN_ACCESS_TOKEN"] + ([] if inp.account_id else ["LINKEDIN_AD_ACCOUNT_ID"]),
    )
    account = inp.account_id or s["LINKEDIN_AD_ACCOUNT_ID"]
    start, end = _last_days(inp.days)
    # Rest.li 2.0 query syntax: parentheses and List(...) stay literal, the URN is encoded
    urn = urllib.parse.quote(f"urn:li:sponsoredAccount:{account}", safe="")
    query = (
        f"q=analytics&pivot={inp.pivot}&timeGranularity=ALL"
        f"&dateRange=(start:(year:{start.year},month:{start.month},day:{start.day}),end:(year:{end.year},month:{end.month},day:{end.day}))"
        f"&accounts=List({urn})&fields={','.join(inp.fields)}"
    )
    headers = {
        **bearer(s["LINKEDIN_ACCESS_TOKEN"]),
        "LinkedIn-Version": LINKEDIN_VERSION,
        "X-Restli-Protocol-Version": "2.0.0",
    }
    return PreparedRequest("GET", f"https://api.linkedin.com/rest/adAnalytics?{query}", headers)


@tool(
    "linkedin_ads", "LinkedIn Ads analytics by campaign; needs LINKEDIN_* secrets, never fakes data"
)
def linkedin_ads(inp: LinkedInAdsInput) -> ConnectorOutput:
    req = linkedin_ads_request(inp)
    data = parse_json("linkedin_ads", send("linkedin_ads", req))
    return finish(
        inp,
        "linkedin_ads",
        req,
        list(data.get("elements", [])) if isinstance(data, dict) else [],
        "analytics rows",
    )


# --------------------------------------------------------------------------- mailchimp


class MailchimpInput(ToolInput):
    count: int = Field(default=20, ge=1, le=1000, description="campaign reports to fetch")


def mailchimp_request(inp: MailchimpInput) -> PreparedRequest:
    key = require("mailchimp", ["MAILCHIMP_API_KEY"])["MAILCHIMP_API_KEY"]
    if "-" not in key:
        raise InvalidToolInput("MAILCHIMP_API_KEY must end with its data centre, e.g. ...-us21")
    dc = key.rsplit("-", 1)[1]
    return PreparedRequest(
        "GET", f"https://{dc}.api.mailchimp.com/3.0/reports?count={inp.count}", basic("bizos", key)
    )


@tool(
    "mailchimp",
    "Mailchimp campaign reports (sends, opens, clicks); needs MAILCHIMP_API_KEY, never fakes data",
)
def mailchimp(inp: MailchimpInput) -> ConnectorOutput:
    req = mailchimp_request(inp)
    data = parse_json("mailchimp", send("mailchimp", req))
    rows = [
        {
            "id": r.get("id"),
            "campaign_title": r.get("campaign_title"),
            "emails_sent": r.get("emails_sent"),
            "open_rate": (r.get("opens") or {}).get("open_rate"),
            "click_rate": (r.get("clicks") or {}).get("click_rate"),
            "unsubscribed": r.get("unsubscribed"),
            "send_time": r.get("send_time"),
        }
        for r in (data.get("reports", []) if isinstance(data, dict) else [])
    ]
    return finish(inp, "mailchimp", req, rows, "campaign reports")


# --------------------------------------------------------------------------- semrush

SEMRUSH_REPORTS = {
    "phrase_this": "Ph,Nq,Cp,Co,Nr,Td",
    "phrase_related": "Ph,Nq,Cp,Co,Nr,Rr",
    "domain_organic": "Ph,Po,Nq,Cp,Ur,Tr",
}


class SemrushInput(ToolInput):
    report: str = Field(default="phrase_this", description=" | ".join(SEMRUSH_REPORTS))
    phrase: str = Field(default="", description="keyword, for phrase_* reports")
    domain: str = Field(default="", description="for domain_organic")
    database: str = "us"
    limit: int = Field(default=50, ge=1, le=10_000)


def semrush_request(inp: SemrushInput) -> PreparedRequest:
    # credentials first: an unconfigured connector says so whatever the arguments
    key = require("semrush", ["SEMRUSH_API_KEY"])["SEMRUSH_API_KEY"]
    if inp.report not in SEMRUSH_REPORTS:
        raise InvalidToolInput(f"semrush report must be one of {', '.join(SEMRUSH_REPORTS)}")
    target = {"domain": inp.domain} if inp.report == "domain_organic" else {"phrase": inp.phrase}
    if not next(iter(target.values())):
        raise InvalidToolInput(
            f"semrush {inp.report} needs {'a domain' if 'domain' in target else 'a phrase'}"
        )
    query = urllib.parse.urlencode(
        {
            "type": inp.report,
            "key": key,
            **target,
            "database": inp.database,
            "export_columns": SEMRUSH_REPORTS[inp.report],
            "display_limit": inp.limit,
        }
    )
    return PreparedRequest("GET", f"https://api.semrush.com/?{query}", {"Accept": "text/csv"})


@tool(
    "semrush",
    (
        "SEMrush keyword/domain reports (volume, CPC, competition); needs "
        "SEMRUSH_API_KEY, never fakes data"
    ),
)
def semrush(inp: SemrushInput) -> ConnectorOutput:
    req = semrush_request(inp)
    text = send("semrush", req).decode("utf-8", errors="replace")
    if text.startswith("ERROR"):
        raise ConnectorError(f"semrush: {text.strip()[:200]}")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    return finish(inp, "semrush", req, rows, "keyword rows")


# --------------------------------------------------------------------------- ahrefs

AHREFS_ENDPOINTS = ("domain-rating", "backlinks-stats", "metrics")


class AhrefsInput(ToolInput):
    target: str = Field(default="", description="domain or URL")
    endpoint: str = Field(default="domain-rating", description=" | ".join(AHREFS_ENDPOINTS))
    date: str = Field(default="", description="YYYY-MM-DD; today when empty")


def ahrefs_request(inp: AhrefsInput) -> PreparedRequest:
    key = require("ahrefs", ["AHREFS_API_KEY"])["AHREFS_API_KEY"]
    if inp.endpoint not in AHREFS_ENDPOINTS:
        raise InvalidToolInput(f"ahrefs endpoint must be one of {', '.join(AHREFS_ENDPOINTS)}")
    if not inp.target:
        raise InvalidToolInput("ahrefs needs a target domain or URL")
    query = urllib.parse.urlencode(
        {"target": inp.target, "date": inp.date or date.today().isoformat(), "mode": "subdomains"}
    )
    return PreparedRequest(
        "GET", f"https://api.ahrefs.com/v3/site-explorer/{inp.endpoint}?{query}", bearer(key)
    )


@tool(
    "ahrefs",
    (
        "Ahrefs Site Explorer (domain rating, backlink stats, metrics); "
        "needs AHREFS_API_KEY, never fakes data"
    ),
)
def ahrefs(inp: AhrefsInput) -> ConnectorOutput:
    req = ahrefs_request(inp)
    data = parse_json("ahrefs", send("ahrefs", req))
    rows = [_flatten(data)] if isinstance(data, dict) else []
    return finish(inp, "ahrefs", req, rows, "metric rows")


# --------------------------------------------------------------------------- ga4


class Ga4Input(ToolInput):
    property_id: str = Field(default="", description="GA4_PROPERTY_ID when empty")
    dimensions: list[str] = Field(default_factory=lambda: ["date"])
    metrics: list[str] = Field(default_factory=lambda: ["sessions", "totalUsers", "conversions"])
    start_date: str = "30daysAgo"
    end_date: str = "today"
    limit: int = Field(default=10_000, ge=1, le=250_000)


def ga4_request(inp: Ga4Input) -> PreparedRequest:
    s = require("ga4", ["GA4_ACCESS_TOKEN"] + ([] if inp.property_id else ["GA4_PROPERTY_ID"]))
    prop = inp.property_id or s["GA4_PROPERTY_ID"]
    body = {
        "dateRanges": [{"startDate": inp.start_date, "endDate": inp.end_date}],
        "dimensions": [{"name": d} for d in inp.dimensions],
        "metrics": [{"name": m} for m in inp.metrics],
        "limit": inp.limit,
    }
    return PreparedRequest(
        "POST",
        f"https://analyticsdata.googleapis.com/v1beta/properties/{prop}:runReport",
        {**bearer(s["GA4_ACCESS_TOKEN"]), "Content-Type": "application/json"},
        json_body(body),
    )


@tool(
    "ga4",
    (
        "Google Analytics 4 report (runReport: dimensions x metrics); "
        "needs GA4_* secrets, never fakes data"
    ),
)
def ga4(inp: Ga4Input) -> ConnectorOutput:
    req = ga4_request(inp)
    data = parse_json("ga4", send("ga4", req))
    rows = []
    if isinstance(data, dict):
        dims = [h.get("name") for h in data.get("dimensionHeaders", [])]
        mets = [h.get("name") for h in data.get("metricHeaders", [])]
        for r in data.get("rows", []):
            row: dict[str, Any] = {
                d: v.get("value") for d, v in zip(dims, r.get("dimensionValues", []), strict=False)
            }
            for m, v in zip(mets, r.get("metricValues", []), strict=False):
                try:
                    row[str(m)] = float(v.get("value"))
                except (TypeError, ValueError):
                    row[str(m)] = v.get("value")
            rows.append(row)
    return finish(inp, "ga4", req, rows, "report rows")


# --------------------------------------------------------------------------- mixpanel


class MixpanelInput(ToolInput):
    event: str = Field(default="", description="event name to segment")
    days: int = Field(default=30, ge=1, le=365)
    unit: str = Field(default="day", description="day | week | month")
    eu_residency: bool = False


def mixpanel_request(inp: MixpanelInput) -> PreparedRequest:
    s = require(
        "mixpanel",
        [
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME",
            "MIXPANEL_SERVICE_ACCOUNT_SECRET",
            "MIXPANEL_PROJECT_ID",
        ],
    )
    if not inp.event:
        raise InvalidToolInput("mixpanel needs an event name")
    start, end = _last_days(inp.days)
    host = "eu.mixpanel.com" if inp.eu_residency else "mixpanel.com"
    query = urllib.parse.urlencode(
        {
            "project_id": s["MIXPANEL_PROJECT_ID"],
            "event": inp.event,
            "from_date": start.isoformat(),
            "to_date": end.isoformat(),
            "unit": inp.unit,
        }
    )
    return PreparedRequest(
        "GET",
        f"https://{host}/api/query/segmentation?{query}",
        basic(s["MIXPANEL_SERVICE_ACCOUNT_USERNAME"], s["MIXPANEL_SERVICE_ACCOUNT_SECRET"]),
    )


@tool(
    "mixpanel", "Mixpanel event segmentation over time; needs MIXPANEL_* secrets, never fakes data"
)
def mixpanel(inp: MixpanelInput) -> ConnectorOutput:
    req = mixpanel_request(inp)
    data = parse_json("mixpanel", send("mixpanel", req))
    values = ((data or {}).get("data") or {}).get("values") or {} if isinstance(data, dict) else {}
    rows = [
        {"event": ev, "date": d, "count": c}
        for ev, series in values.items()
        for d, c in sorted(series.items())
    ]
    return finish(inp, "mixpanel", req, rows, "daily counts")


# --------------------------------------------------------------------------- crm

CRM_SECRETS = {
    "hubspot": ["HUBSPOT_ACCESS_TOKEN"],
    "salesforce": ["SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN"],
    "zoho": ["ZOHO_ACCESS_TOKEN"],
}
_CRM_OBJECTS = {  # our name -> (hubspot object, salesforce sObject, zoho module, default fields)
    "contacts": (
        "contacts",
        "Contact",
        "Contacts",
        ["email", "firstname", "lastname", "lifecyclestage"],
    ),
    "companies": ("companies", "Account", "Accounts", ["name", "domain", "industry"]),
    "deals": ("deals", "Opportunity", "Deals", ["dealname", "amount", "dealstage", "closedate"]),
}
_SF_FIELDS = {
    "contacts": "Id, Email, FirstName, LastName",
    "companies": "Id, Name, Website, Industry",
    "deals": "Id, Name, Amount, StageName, CloseDate",
}
_ZOHO_FIELDS = {
    "contacts": "Email,First_Name,Last_Name",
    "companies": "Account_Name,Website,Industry",
    "deals": "Deal_Name,Amount,Stage,Closing_Date",
}


class CrmInput(ToolInput):
    provider: str = Field(
        default="", description="hubspot | salesforce | zoho; CRM_PROVIDER or hubspot when empty"
    )
    object: str = Field(default="contacts", description="contacts | companies | deals")
    limit: int = Field(default=100, ge=1, le=200)


def crm_request(inp: CrmInput) -> tuple[str, PreparedRequest]:
    provider = (inp.provider or secrets.get_secret("CRM_PROVIDER") or "hubspot").lower()
    if provider not in CRM_SECRETS:
        raise InvalidToolInput(f"crm provider must be one of {', '.join(CRM_SECRETS)}")
    s = require(f"crm ({provider})", CRM_SECRETS[provider])
    if inp.object not in _CRM_OBJECTS:
        raise InvalidToolInput(f"crm object must be one of {', '.join(_CRM_OBJECTS)}")
    hub_obj, sf_obj, zoho_mod, fields = _CRM_OBJECTS[inp.object]
    if provider == "hubspot":
        body = {
            "limit": inp.limit,
            "properties": fields,
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
        }
        return provider, PreparedRequest(
            "POST",
            f"https://api.hubapi.com/crm/v3/objects/{hub_obj}/search",
            {**bearer(s["HUBSPOT_ACCESS_TOKEN"]), "Content-Type": "application/json"},
            json_body(body),
        )
    if provider == "salesforce":
        soql = (
            f"SELECT {_SF_FIELDS[inp.object]} FROM {sf_obj} ORDER BY LastModifiedDate "
            f"DESC LIMIT {inp.limit}"
        )
        base = s["SALESFORCE_INSTANCE_URL"].rstrip("/")
        if not base.startswith("https://"):
            raise InvalidToolInput(
                "SALESFORCE_INSTANCE_URL must be an https URL like https://yourorg.my.salesforce.com"
            )
        return provider, PreparedRequest(
            "GET",
            f"{base}/services/data/{SALESFORCE_API_VERSION}/query?"
            + urllib.parse.urlencode({"q": soql}),
            bearer(s["SALESFORCE_ACCESS_TOKEN"]),
        )
    domain = (secrets.get_secret("ZOHO_API_DOMAIN") or "https://www.zohoapis.com").rstrip("/")
    headers = {
        "Authorization": f"Zoho-oauthtoken {s['ZOHO_ACCESS_TOKEN']}",
        "Accept": "application/json",
    }
    return provider, PreparedRequest(
        "GET",
        f"{domain}/crm/v6/{zoho_mod}?"
        + urllib.parse.urlencode({"per_page": inp.limit, "fields": _ZOHO_FIELDS[inp.object]}),
        headers,
    )


@tool(
    "crm",
    (
        "CRM records (HubSpot, Salesforce or Zoho contacts/companies/deals); "
        "needs the provider's secrets, never fakes data"
    ),
)
def crm(inp: CrmInput) -> ConnectorOutput:
    provider, req = crm_request(inp)
    data = parse_json("crm", send(f"crm ({provider})", req))
    if not isinstance(data, dict):
        rows: list[dict[str, Any]] = []
    elif provider == "hubspot":
        rows = [{"id": r.get("id"), **(r.get("properties") or {})} for r in data.get("results", [])]
    elif provider == "salesforce":
        rows = [{k: v for k, v in r.items() if k != "attributes"} for r in data.get("records", [])]
    else:
        rows = list(data.get("data", []))
    return finish(inp, "crm", req, rows, f"{inp.object} from {provider}")
