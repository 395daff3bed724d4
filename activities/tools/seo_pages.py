"""Sample pages for the SEO tools: a page that passes every check, with chosen defects
planted. With no page given, `seo_audit` audits one of these (defects picked from the input's
seed); the tests plant defects and expect exactly those checks to fail."""

from __future__ import annotations

import json
import random

# defect -> the check id it breaks (and only that one)
DEFECTS: dict[str, str] = {
    "missing_meta_description": "meta_description_present",
    "short_title": "title_length",
    "two_h1": "h1_single",
    "skip_heading": "heading_hierarchy",
    "img_no_alt": "img_alt_present",
    "img_no_dimensions": "img_dimensions",
    "blank_target_no_noopener": "external_links_noopener",
    "click_here": "anchor_text_descriptive",
    "javascript_link": "no_javascript_links",
    "broken_fragment": "fragment_links_resolve",
    "mixed_content": "no_mixed_content",
    "no_viewport": "viewport_meta",
    "noindex": "robots_indexable",
    "meta_keywords": "no_meta_keywords",
    "relative_canonical": "canonical_absolute",
    "no_lang": "html_lang",
    "deprecated_font": "no_deprecated_tags",
    "duplicate_id": "unique_ids",
    "lorem": "no_placeholder_text",
    "blocking_script": "render_blocking_scripts",
    "invalid_jsonld": "structured_data_valid",
    "no_og_image": "og_image",
    "no_favicon": "favicon_present",
    "unlabelled_input": "form_inputs_labelled",
}

_BODY = (
    "Good {kw} help you move with less effort and more comfort.",
    "Most people pick a pair by look, but fit matters far more.",
    "Try them on late in the day, when your feet are a little larger.",
    "A thumb's width of space at the toe keeps your nails safe on long runs.",
    "The right pair of {kw} should feel good from the first step.",
    "Replace them after about five hundred miles, or when the sole feels flat.",
    "Soft foam feels great at first but wears out faster than firm foam.",
    "Trail models add grip and a tougher upper for rocks and roots.",
    "Road models are lighter and roll more smoothly on hard ground.",
    "Ask the shop if you can run a few steps on a treadmill first.",
    "Your stride, weight and weekly distance all change what works best.",
    "We tested each pair for a month on roads, tracks and park paths.",
)


def sample_page(
    keyword: str, defects: tuple[str, ...] = (), rnd: random.Random | None = None
) -> tuple[str, str]:
    """(html, url) of a page about `keyword` with the given defects planted."""
    unknown = set(defects) - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defects {sorted(unknown)}")
    rnd = rnd or random.Random(0)
    kw = keyword.lower()
    slug = kw.replace(" ", "-")
    url = f"https://www.example.com/guides/{slug}"
    d = set(defects)
    title = kw.title() if "short_title" in d else f"{kw.title()}: How to Choose the Right Pair"
    if len(title) > 60:
        title = f"{kw.title()}: A Buyer's Guide"[:60]
    meta = [
        "<meta charset='utf-8'>",
        ""
        if "no_viewport" in d
        else "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        ""
        if "missing_meta_description" in d
        else (
            f"<meta name='description' content='Our guide to {kw}: how to "
            "test fit, when to replace a pair and which models suit roads "
            "or trails.'>"
        ),
        "<meta name='robots' content='noindex, nofollow'>"
        if "noindex" in d
        else "<meta name='robots' content='index, follow'>",
        f"<meta name='keywords' content='{kw}, shoes'>" if "meta_keywords" in d else "",
        f"<meta property='og:title' content='{title}'>",
        f"<meta property='og:description' content='How to choose {kw}.'>",
        ""
        if "no_og_image" in d
        else "<meta property='og:image' content='https://www.example.com/img/cover.jpg'>",
        f"<meta property='og:url' content='{url}'>",
        "<meta property='og:type' content='article'>",
        "<meta name='twitter:card' content='summary_large_image'>",
        f"<link rel='canonical' href='{'/guides/' + slug if 'relative_canonical' in d else url}'>",
        "" if "no_favicon" in d else "<link rel='icon' href='/favicon.ico'>",
        "<link rel='stylesheet' href='/css/site.css'>",
        "<script src='/js/app.js'></script>"
        if "blocking_script" in d
        else "<script src='/js/app.js' defer></script>",
    ]
    article = {
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": title,
        "author": {"@type": "Person", "name": "Sam Lee"},
        "datePublished": "2025-03-01",
        "image": "https://www.example.com/img/cover.jpg",
    }
    if "invalid_jsonld" in d:
        del article["datePublished"]
    meta.append(f"<script type='application/ld+json'>{json.dumps(article)}</script>")

    sentences = [s.format(kw=kw) for s in _BODY]
    order = list(range(2, len(sentences)))
    rnd.shuffle(order)
    paras = [" ".join(sentences[:2])]
    for i in range(0, len(order), 3):
        paras.append(" ".join(sentences[j] for j in order[i : i + 3]))
    # enough words for the content checks, keyword density stays near 1.5%
    extra = [
        " ".join(sentences[j] for j in order[::-1][i : i + 4]) for i in range(0, len(order), 4)
    ]
    body_paras = paras + extra + paras[1:]
    if "lorem" in d:
        body_paras.append("Lorem ipsum dolor sit amet, the rest of this section is coming soon.")

    img = "<img src='{src}' alt='{alt}' width='800' height='450' loading='{loading}'>"
    images = [
        img.format(src="/img/fit.jpg", alt="Checking toe room in a running shoe", loading="eager"),
        img.format(src="/img/trail.jpg", alt="Trail shoe sole with deep lugs", loading="eager"),
    ]
    if "img_no_alt" in d:
        images.append("<img src='/img/road.jpg' width='800' height='450' loading='lazy'>")
    if "img_no_dimensions" in d:
        images.append("<img src='/img/foam.jpg' alt='Cut-away of midsole foam' loading='lazy'>")
    if "mixed_content" in d:
        images.append(
            "<img src='http://cdn.example.com/img/old.jpg' alt='An older "
            "model' width='400' height='300' loading='lazy'>"
        )

    links = [
        "<a href='/guides/trail-running'>Trail running guide</a>",
        "<a href='/guides/marathon-training'>Marathon training plan</a>",
        "<a href='/reviews'>All shoe reviews</a>",
        "<a href='#sizing'>Sizing advice</a>",
        (
            "<a href='https://www.worldathletics.org/' target='_blank' rel='noopener'>World "
            "Athletics</a>"
        ),
    ]
    if "blank_target_no_noopener" in d:
        links.append("<a href='https://www.runnersworld.com/' target='_blank'>Runner's World</a>")
    if "click_here" in d:
        links.append("<a href='/newsletter'>click here</a>")
    if "javascript_link" in d:
        links.append("<a href='javascript:void(0)'>Open size chart</a>")
    if "broken_fragment" in d:
        links.append("<a href='#returns'>Returns policy</a>")

    h1 = f"<h1>How to choose {kw}</h1>" + ("<h1>Our top picks</h1>" if "two_h1" in d else "")
    sub = "h4" if "skip_heading" in d else "h3"
    dup = " id='fit'" if "duplicate_id" in d else ""
    font = "<font color='red'>Sale ends Sunday.</font>" if "deprecated_font" in d else ""
    form_input = (
        "<input type='email' name='email'>"
        if "unlabelled_input" in d
        else "<label for='email'>Email</label><input type='email' id='email' name='email'>"
    )
    body = (
        f"<header><nav>{''.join(links[:3])}</nav></header><main><article>{h1}"
        f"<p>{body_paras[0]}</p>{images[0]}"
        f"<h2 id='fit'>Fit comes first</h2><p{dup}>{body_paras[1]}</p><{sub}>Test "
        f"at the end of the day</{sub}><p>{body_paras[2]}</p>"
        f"<h2 id='sizing'>Sizing advice</h2><p>{body_paras[3]}</p>{images[1]}"
        f"<h2>Road or trail</h2>"
        + "".join(f"<p>{p}</p>" for p in body_paras[4:])
        + "".join(images[2:])
        + font
        + f"<ul><li>{links[3]}</li><li>{links[4]}</li>"
        + "".join(f"<li>{x}</li>" for x in links[5:])
        + "</ul>"
        + f"<form action='/subscribe'>{form_input}<button type='submit'>Subscribe</button></form>"
        + "</article></main><footer><p>© Example Running</p></footer>"
    )
    lang = "" if "no_lang" in d else " lang='en'"
    head = f"<head><title>{title}</title>{''.join(meta)}</head>"
    html = f"<!doctype html><html{lang}>{head}<body>{body}</body></html>"
    return html, url
