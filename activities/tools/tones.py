"""Phrase banks for the seven content tones. Kept apart from the drafting logic so editors
can tune the voice without touching code paths. Slots: {topic} {kw} {audience} {brand} {n}."""

from __future__ import annotations

TONES = (
    "professional",
    "casual",
    "friendly",
    "authoritative",
    "humorous",
    "inspirational",
    "technical",
)

TITLES: dict[str, tuple[str, ...]] = {
    "professional": (
        "{Topic}: A Practical Guide for {Audience}",
        "How {Audience} Can Get More From {Topic}",
    ),
    "casual": ("So You Want to Nail {Topic}? Here's How", "{Topic}, Minus the Headache"),
    "friendly": ("Your Friendly Guide to {Topic}", "Let's Make {Topic} Easy Together"),
    "authoritative": ("The Definitive Guide to {Topic}", "{Topic}: What Every Leader Must Know"),
    "humorous": (
        "{Topic} Without Tears (Mostly)",
        "How to Survive {Topic} and Maybe Even Enjoy It",
    ),
    "inspirational": ("Unlock the Power of {Topic}", "{Topic}: Your Next Big Leap"),
    "technical": (
        "{Topic}: Architecture, Trade-offs and Implementation",
        "A Technical Deep Dive into {Topic}",
    ),
}

INTROS: dict[str, tuple[str, ...]] = {
    "professional": (
        "{Topic} has become a priority for {audience} who want measurable results.",
        "This guide sets out how to approach {kw} in a structured, repeatable way.",
        "It covers the essentials, common pitfalls and the metrics that matter.",
    ),
    "casual": (
        "Let's be honest: {topic} can feel like a lot.",
        "You don't need a giant budget or a PhD to get {kw} right, though.",
        "Here's what actually works, minus the fluff.",
    ),
    "friendly": (
        "We're so glad you're here!",
        (
            "If {topic} has been on your to-do list, you're in good company, "
            "and we'll walk through {kw} step by step."
        ),
        "Grab a coffee and let's get started together.",
    ),
    "authoritative": (
        "Research across hundreds of teams shows that {topic} separates leaders from laggards.",
        "Organisations that treat {kw} as a discipline consistently outperform those that do not.",
        "This guide sets out the principles you must apply.",
    ),
    "humorous": (
        (
            "{Topic} is a bit like assembling flat-pack furniture: the instructions "
            "look simple until you find the spare screws."
        ),
        "The good news is that {kw} is far less mysterious than it seems.",
        "No Allen key required.",
    ),
    "inspirational": (
        "Imagine what your team could achieve if {topic} worked for you rather than against you.",
        "Every great result starts with a single decision, and {kw} is where that decision begins.",
        "Today is the day to take that first step.",
    ),
    "technical": (
        "This article examines {topic} from an implementation perspective.",
        (
            "We define the core components of {kw}, the constraints that "
            "shape them and the measurements used to validate them."
        ),
        "Each section lists concrete parameters and failure modes.",
    ),
}

SENTENCES: dict[str, tuple[str, ...]] = {
    "professional": (
        "Start by defining clear objectives for {kw} and agreeing how success will be measured.",
        "Teams that document their process for {kw} reduce rework and onboard new members faster.",
        "Review results every {n} weeks and adjust priorities based on the data.",
        "Align stakeholders early so that {topic} decisions are not reopened later.",
        "A short written brief keeps {audience} focused on the outcomes that matter.",
        "Budget time for testing, because assumptions about {kw} are often wrong.",
        "Choose a small number of metrics and report them consistently.",
        "Where possible, automate repetitive steps so people can focus on judgement.",
    ),
    "casual": (
        "Honestly, the best way to get better at {kw} is to just start and tweak as you go.",
        "Don't overthink it: pick one thing, try it for {n} weeks and see what happens.",
        "You'll probably mess up a couple of times, and that's totally fine.",
        "Keep a simple list of what worked and what didn't.",
        "If something feels like busywork, it probably is, so cut it.",
        "Ask your team what's bugging them about {topic}; they'll tell you.",
        "Small wins add up faster than you'd think.",
        "It's way easier when you're not trying to do everything at once.",
    ),
    "friendly": (
        "Let's start with the basics of {kw}, because a solid foundation makes everything easier.",
        "We've found that taking it one step at a time keeps things manageable.",
        "Don't worry if it takes a few tries; everyone learns {topic} at their own pace.",
        "Try setting aside {n} minutes a day, and you'll be surprised how quickly it clicks.",
        "We love hearing how {audience} make {kw} their own.",
        "Remember to celebrate the little wins along the way.",
        "If you get stuck, reach out to a colleague, because two heads really are better than one.",
        "You've got this, and we're cheering you on.",
    ),
    "authoritative": (
        "The evidence is clear: disciplined {kw} delivers compounding returns.",
        "Leaders must set explicit standards for {topic} and hold teams accountable to them.",
        "Decades of practice show that measurement precedes improvement.",
        "Organisations that review {kw} every {n} weeks outperform those that review it annually.",
        "Every initiative requires an owner, a budget and a deadline.",
        "Ignore vanity metrics; focus on indicators that predict revenue.",
        "The most effective teams codify what works and retire what does not.",
        "Consistency, not intensity, is the decisive factor.",
    ),
    "humorous": (
        "Think of {kw} as a gym membership: it only works if you actually show up.",
        "Yes, you could ignore {topic}, and you could also ignore the smoke alarm.",
        "Try it for {n} weeks; if nothing improves, you have our permission to blame the intern.",
        "Spreadsheets are wonderful, right up until one has {n} tabs called Final.",
        "The secret ingredient is boring consistency, which sadly does not come in a jar.",
        "Meetings about {kw} should be shorter than the coffee break that follows them.",
        "Nobody ever regretted writing things down, except possibly a few diarists.",
        "Progress beats perfection, and it also has better snacks.",
    ),
    "inspirational": (
        "Every expert in {kw} was once a beginner who refused to give up.",
        "Your next breakthrough in {topic} may be one experiment away.",
        "Believe in the process, and give it {n} focused weeks.",
        "Great teams turn setbacks into stepping stones.",
        "When you commit to {kw}, you commit to growth.",
        "Dream big, start small and keep moving forward.",
        "The future belongs to {audience} who dare to try.",
        "Together, small steps become remarkable journeys.",
    ),
    "technical": (
        "The core loop for {kw} consists of input validation, processing and measurement.",
        "Latency and throughput trade off against each other, so set explicit targets for both.",
        "Instrument every stage and record the p50, p95 and p99 values over a {n}-day window.",
        "Idempotent operations allow retries without duplicating side effects.",
        "Configuration for {topic} should be versioned alongside the code that reads it.",
        "Regression tests pin known inputs to expected outputs and catch silent drift.",
        "Cache invalidation rules must be explicit, because implicit expiry hides stale data.",
        "Capacity planning starts from measured peak load plus a documented safety margin.",
    ),
}

CLOSERS: dict[str, tuple[str, ...]] = {
    "professional": ("{cta} to put these steps into practice.",),
    "casual": ("Give it a shot, and {cta_lower}.",),
    "friendly": ("We'd love to help you along the way, so {cta_lower}.",),
    "authoritative": ("The next move is yours: {cta_lower}.",),
    "humorous": ("Now go forth, conquer {topic}, and {cta_lower}. Snacks optional.",),
    "inspirational": ("Your journey starts now: {cta_lower}.",),
    "technical": ("For implementation details, {cta_lower}.",),
}

# Section heading -> tone-neutral points; the tone comes from prefixes, contractions and the
# tone's own sentences interleaved with these.
SECTION_POINTS: dict[str, tuple[str, ...]] = {
    "Why {Topic} Matters": (
        "{kw} shapes how quickly {audience} turn effort into results.",
        "Without a clear approach, work on {kw} drifts and budgets leak.",
        "The teams that invest here tend to learn faster than their competitors.",
        "Customers notice the difference when the basics are done well.",
        "Small improvements compound into a lasting advantage over a year.",
        "It also gives leadership a clearer view of what is working.",
    ),
    "Getting Started with {Kw}": (
        "Begin with an honest audit of where {kw} stands today.",
        "Write down the one outcome that would make the next quarter a success.",
        "Pick a pilot that is small enough to finish in {n} weeks.",
        "Name an owner, because shared ownership usually means no ownership.",
        "Collect a baseline before changing anything, so progress is visible.",
        "Keep the first version simple and plan to improve it.",
    ),
    "Best Practices for {Kw}": (
        "Document the process for {kw} so anyone on the team can run it.",
        "Test one change at a time to learn what actually moved the numbers.",
        "Reuse what works instead of starting from scratch every time.",
        "Share results openly, including the experiments that failed.",
        "Schedule regular reviews rather than waiting for problems to appear.",
        "Invest in the skills of the people doing the work.",
    ),
    "Common Mistakes to Avoid": (
        "Chasing every new trend spreads the team too thin.",
        "Measuring too many things hides the signal in noise.",
        "Skipping the baseline makes it impossible to prove impact.",
        "Launching without a review step lets small errors reach customers.",
        "Copying a competitor's playbook ignores what makes your situation different.",
        "Treating {kw} as a one-off project rather than a habit is the most common error.",
    ),
    "Measuring {Topic} Results": (
        "Track a leading indicator weekly and a lagging indicator monthly.",
        "Compare results against the baseline, not against last week's mood.",
        "Segment the numbers, because averages hide the groups that matter.",
        "Report the cost alongside the benefit so decisions stay grounded.",
        "A simple dashboard with {n} metrics beats a complex one nobody reads.",
        "Agree in advance which result would make you stop or change course.",
    ),
    "Tools and Resources": (
        "A shared calendar keeps everyone aligned on deadlines.",
        "Templates save hours on work that repeats every cycle.",
        "Automation handles the routine steps and reduces manual errors.",
        "A lightweight project board shows who is doing what.",
        "Analytics tools turn raw activity into decisions.",
        "Peer communities are a good source of tested ideas.",
    ),
    "A Practical Example": (
        "Consider a team of {n} people that set out to improve {kw} in one quarter.",
        "They started with a baseline and a single, clear goal.",
        "Each week they tested one change and recorded the result.",
        "By the end of the quarter the best two changes had become standard practice.",
        "The ones that failed were documented so nobody repeated them.",
        "The result was steady progress without a larger budget.",
    ),
    "Scaling {Topic} Across the Team": (
        "Once the pilot works, turn it into a playbook others can follow.",
        "Train a champion in each team to answer questions locally.",
        "Standardise the parts that must be consistent and leave room elsewhere.",
        "Review adoption every {n} weeks and remove the blockers people report.",
        "Celebrate the teams that adopt early, so others follow.",
        "Keep measuring, because what worked for one team may need tuning for the next.",
    ),
}
SECTIONS = tuple(SECTION_POINTS)

PREFIXES: dict[str, tuple[str, ...]] = {
    "professional": ("In practice, ", "As a rule, ", "For most organisations, ", ""),
    "casual": ("Honestly, ", "Real talk: ", "Here's the thing: ", "Look, "),
    "friendly": ("Good news: ", "We've found that ", "Here's a tip: ", "Happily, "),
    "authoritative": (
        "Evidence shows that ",
        "Without exception, ",
        "Experience proves that ",
        "Make no mistake: ",
    ),
    "humorous": ("Spoiler alert: ", "Plot twist: ", "Brace yourself: ", "Fun fact: "),
    "inspirational": ("Imagine this: ", "Remember, ", "Believe it: ", "Here is the opportunity: "),
    "technical": ("Empirically, ", "By design, ", "At the implementation level, ", "Formally, "),
}

# Tones that speak with contractions.
CONTRACTING = ("casual", "friendly", "humorous")
CONTRACTIONS = (
    ("do not", "don't"),
    ("does not", "doesn't"),
    ("it is", "it's"),
    ("you are", "you're"),
    ("cannot", "can't"),
    ("that is", "that's"),
    ("they are", "they're"),
    ("we are", "we're"),
    ("is not", "isn't"),
    ("are not", "aren't"),
    ("will not", "won't"),
)
