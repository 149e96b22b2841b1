"""Sandboxed templates: untrusted content never reaches Python internals, nothing executes.

Templates that try to escape are refused at activation (a ``ValidationError``
naming a "forbidden construct") or, when only rendering can tell, render
harmlessly: that recipient's message is FAILED or excluded, nothing is sent.
The fast path for pure substitutions gives exactly Jinja's output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.delivery.render import (
    CompiledContent,
    MissingAttribute,
    TemplateFailed,
    check_template,
    compile_template,
    new_environment,
)
from campaignkit.testing import RecordingChannel
from tests.factories import World, make_world

C = ck.ChannelType
L = ck.LedgerState


# ---------------------------------------------------------------- helpers


@pytest.fixture
def world() -> World:
    """The shared test world, with sendable profiles p1 (Ann) and p2 (Bob) in audience vip."""
    built = make_world()
    for pid, name in (("p1", "Ann"), ("p2", "Bob")):
        built.kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": name},
                consents={C.EMAIL: True},
            )
        )
    return built


def email(world: World, subject: str, html: str = "<p>Hello</p>") -> ck.Action:
    return ck.Action(world.email.id, ck.EmailContent(subject=subject, html=html))


def sent(world: World) -> list[ck.Message]:
    channel = world.kit.channels[C.EMAIL]
    assert isinstance(channel, RecordingChannel)
    return channel.sent


def ledger_of(world: World, campaign_id: str) -> dict[str, ck.LedgerEntry]:
    """The entries of the campaign's one run, by profile id."""
    with world.kit.store.unit_of_work() as uow:
        [run] = uow.runs.for_campaign(campaign_id)
        return {e.profile_id: e for e in uow.ledger.entries(run.id)}


def jinja(source: str, profile: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """The reference: the sandboxed Jinja environment, no fast path."""
    return new_environment().from_string(source).render(profile=profile, context=context)


def outcome(render: Callable[[], str]) -> tuple[str, str]:
    """("ok", text), ("missing", "") or ("failed", why) for a zero-argument render call."""
    try:
        return ("ok", render())
    except (MissingAttribute, jinja2.UndefinedError):
        return ("missing", "")
    except TemplateFailed as exc:  # a list or dict cannot be printed: same reason on both paths
        return ("failed", str(exc))


# ---------------------------------------------------------------- activation refuses escapes

ESCAPES = [
    "{{ profile.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ lipsum.__globals__ }}",
    "{{ '{0.__class__}'.format(profile) }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{% endfor %}",
    "{{ self.__dict__ }}",
    "{{ profile['__class__'] }}",
    "{{ ('{0.' ~ '__class__}').format(profile) }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ profile._secret }}",
    "{% set g = lipsum.__globals__ %}{{ g }}",
    "Hello {{ profile.firstName }}, {{ ''.__class__ }}",
    "{% include profile.file %}",
    "{% import 'macros' as m %}",
    "{% extends 'base' %}",
    "{% set l = [] %}{{ l.append(profile.file) }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_activation_refuses_templates_that_reach_for_python_internals(
    world: World, source: str
) -> None:
    campaign = world.draft(actions=[email(world, "Hi", html=source)])
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.activate(campaign.id)
    [problem] = caught.value.problems
    assert "html" in problem
    assert "forbidden construct" in problem
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.DRAFT
    world.kit.tick()
    assert sent(world) == []


@pytest.mark.parametrize("source", ["{{ config }}", "{{ request }}", "{{ config.items() }}"])
def test_undefined_host_globals_render_harmlessly_as_missing_data(
    world: World, source: str
) -> None:
    campaign = world.draft(actions=[email(world, source)])
    world.admin.activate(campaign.id)  # nothing to detect: the names simply do not exist
    world.kit.tick()
    entries = ledger_of(world, campaign.id)
    assert {(e.state, e.reason) for e in entries.values()} == {
        (L.EXCLUDED, ck.ExclusionReason.MISSING_ATTRIBUTE)
    }
    assert sent(world) == []


@pytest.mark.parametrize(
    ("source", "attributes", "error"),
    [
        ("{{ profile.tpl.format(profile) }}", {"tpl": "{0.__class__}"}, "refused by the sandbox"),
        ("{{ profile|attr(profile.name) }}", {"name": "__class__"}, "refused by the sandbox"),
        (
            "{{ profile.tpl.format_map(profile) }}",
            {"tpl": "{firstName.__class__}"},
            "refused by the sandbox",
        ),
        ("{{ profile.tags.append(profile.file) }}", {"tags": ["a"], "file": "x"}, "sandbox"),
        ("{{ range(profile.n) | list }}", {"n": 10**9}, "range too big"),
    ],
)
def test_constructs_refused_only_at_render_time_fail_that_message_and_nothing_else(
    world: World, source: str, attributes: Mapping[str, Any], error: str
) -> None:
    kit = world.kit
    kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "p1@example.com"},
            attributes={"firstName": "Ann", **attributes},
            consents={C.EMAIL: True},
        )
    )
    kit.profiles.upsert(
        ck.Profile(
            id="p2",
            identities={"email": "p2@example.com"},
            attributes={"firstName": "Bob"},
            consents={C.EMAIL: True},
        )
    )
    campaign = world.draft(
        actions=[
            email(world, "Hi {{ profile.firstName }}", html=source),
            ck.Action(world.sms.id, ck.SmsContent(text="Hi")),
        ]
    )
    world.admin.activate(campaign.id)
    world.kit.tick()
    with kit.store.unit_of_work() as uow:
        [run] = uow.runs.for_campaign(campaign.id)
        entries = [e for e in uow.ledger.entries(run.id) if e.channel is C.EMAIL]
    by_profile = {e.profile_id: e for e in entries}
    failed = by_profile["p1"]
    assert failed.state is L.FAILED
    assert failed.error is not None
    assert error in failed.error
    assert "object at 0x" not in failed.error
    assert by_profile["p2"].state in (L.FAILED, L.EXCLUDED)  # p2 lacks the data: no escape
    assert sent(world) == []
    assert run.status is ck.RunStatus.SUCCEEDED
    report = world.admin.report(campaign.id)
    assert report.targeted == report.sent + report.failed + report.counts.excluded_total


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("{{ profile.firstName", 1),
        ("{% if %}yes{% endif %}", 1),
        ("Hello\n\n{% for x in profile.items %}", 3),
        ("{{ }}", 1),
        ("{% endif %}", 1),
        ("{{ profile.a | nosuchfilter }}", 1),
    ],
)
def test_activation_refuses_syntax_errors_with_their_line(
    world: World, source: str, line: int
) -> None:
    campaign = world.draft(actions=[email(world, source)])
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.activate(campaign.id)
    [problem] = caught.value.problems
    assert f"subject: template syntax error on line {line}" in problem


def test_activation_reports_every_bad_template_at_once(world: World) -> None:
    campaign = world.draft(
        actions=[
            email(world, "{{ profile.__class__ }}", html="{% if %}"),
            ck.Action(world.sms.id, ck.SmsContent(text="{{ lipsum.__globals__ }}")),
        ]
    )
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.activate(campaign.id)
    problems = caught.value.problems
    assert len(problems) == 3
    assert sum("forbidden construct" in p for p in problems) == 2
    assert sum("syntax error" in p for p in problems) == 1


def test_a_missing_attribute_in_the_sample_is_not_an_activation_error(world: World) -> None:
    campaign = world.draft(
        actions=[email(world, "{{ profile.nobody.has.this }} {{ '{0}'.format(profile.x) }}")]
    )
    world.admin.activate(campaign.id)
    world.kit.tick()
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.LIVE


# ---------------------------------------------------------------- nothing executes

WRITERS = [
    "{{ cycler.__init__.__globals__.os.popen('touch ' ~ path) }}",
    "{{ lipsum.__globals__['os'].system('touch ' ~ path) }}",
    "{{ joiner.__init__.__globals__.os.open(path, 65) }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ('{0.__init__.__globals__[os].system}').format(cycler) }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('touch ' ~ path) }}",
    "{% set o = namespace.__init__.__globals__ %}{{ o.os.system('touch ' ~ path) }}",
    "{{ profile.__class__.__init__.__globals__ }}",
]


@pytest.mark.parametrize("source", WRITERS)
def test_a_template_that_would_write_a_file_never_executes(tmp_path: Path, source: str) -> None:
    target = tmp_path / "pwned"
    problem = check_template(source)
    assert problem is not None
    assert problem.startswith("forbidden construct"), problem
    # even compiled and rendered directly, bypassing activation, nothing runs
    compiled = compile_template(source)
    with pytest.raises((TemplateFailed, MissingAttribute)):
        compiled.render({"firstName": "Ann"}, {"path": str(target)})
    with pytest.raises((TemplateFailed, MissingAttribute)):
        compiled.render({"firstName": "Ann"}, {})
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_template_cannot_mutate_the_data_it_is_given() -> None:
    profile = {"firstName": "Ann", "tags": ["a"], "address": {"city": "Paris"}}
    sources = [
        "{{ profile.tags.append('x') }}",
        "{{ profile.address.update({'city': 'Evil'}) }}",
        "{{ profile.address.clear() }}",
        "{% set _ = profile.tags.pop() %}",
    ]
    for source in sources:
        with pytest.raises((TemplateFailed, MissingAttribute)):
            compile_template(source).render(profile, {})
    assert profile == {"firstName": "Ann", "tags": ["a"], "address": {"city": "Paris"}}


# ---------------------------------------------------------------- check_template


def test_check_template_accepts_good_templates() -> None:
    for source in [
        "",
        "plain text",
        "Hi {{ profile.firstName }}",
        "{{ profile.firstName | default('friend') | title }}",
        "{% if profile.vip %}VIP{% else %}hi{% endif %}",
        "{% for o in profile.orders %}{{ o.sku }}{% endfor %}",
        "{{ context.link }}",
        "{{ '{0}!'.format(profile.firstName) }}",
        "{{ '%s'|format(profile.firstName) }}",
        "{# a comment #}",
        "{{ lipsum(1) }}",
    ]:
        assert check_template(source) is None, source


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (None, "template must be text, not NoneType"),
        (42, "template must be text, not int"),
        (["{{ x }}"], "template must be text, not list"),
        ("{{ x", "template syntax error on line 1: "),
        (
            "{{ profile.__class__ }}",
            "forbidden construct: access to internal attribute '__class__'",
        ),
        ("{{ profile._x }}", "forbidden construct: access to internal attribute '_x'"),
        (
            "{{ ''|attr('__dict__') }}",
            "forbidden construct: access to internal attribute '__dict__'",
        ),
        ("{{ '{0.__class__}'.format(1) }}", "forbidden construct: access to attribute '__class__'"),
        ("{{ '{0.__class__}'.format(profile) }}", "forbidden construct: "),
    ],
)
def test_check_template_explains_what_is_wrong(source: object, problem: str) -> None:
    found = check_template(source)
    assert found is not None
    assert found.startswith(problem), found


# ---------------------------------------------------------------- compile_template, fast path


@pytest.mark.parametrize(
    "source",
    [
        "",
        "plain text, no markup",
        "Hi {{ profile.firstName }}",
        "{{profile.firstName}}",
        "{{ profile.address.city }} / {{ context.order.id }}",
        "{{\tprofile.a\n}}",
        "{ not jinja } 100% #1",
    ],
)
def test_pure_substitutions_take_the_fast_path(source: str) -> None:
    assert compile_template(source).fast is True


@pytest.mark.parametrize(
    "source",
    [
        "{{ profile.firstName | default('friend') }}",
        "{% if profile.vip %}VIP{% endif %}",
        "{# note #}{{ profile.firstName }}",
        "{{ profile['firstName'] }}",
        "{{ profile }}",
        "{{ other.name }}",
        "{{ profile.firstName ~ '!' }}",
        "{{- profile.firstName }}",
        "50%} off {{ profile.firstName }}",
        "{{ profile.items }}",
        "{{ profile.keys }}",
        "{{ profile.address.get }}",
        "{{ context.values }}",
        "{{ profile.__class__ }}",
    ],
)
def test_anything_else_goes_through_jinja(source: str) -> None:
    assert compile_template(source).fast is False


def test_dict_method_named_keys_resolve_like_jinja_and_a_method_is_never_printed() -> None:
    profile = MappingProxyType({"items": "three items", "get": "got"})
    for source in ("{{ profile.items }}", "{{ profile.get }}"):
        compiled = compile_template(source)
        assert compiled.fast is False
        with pytest.raises(TemplateFailed) as caught:  # Jinja resolves the method first
            compiled.render(profile, {})
        assert "cannot print a function or method" in str(caught.value)
        assert "built-in method" not in str(caught.value)
    assert compile_template("{{ profile.get('items') }}").render(profile, {}) == "three items"


def test_the_fast_path_reports_the_missing_path() -> None:
    compiled = compile_template("Hi {{ profile.address.city }}")
    assert compiled.fast
    with pytest.raises(MissingAttribute) as caught:
        compiled.render({"address": {}}, {})
    assert caught.value.path == "profile.address.city"
    with pytest.raises(MissingAttribute):
        compiled.render({"address": "a string"}, {})
    with pytest.raises(MissingAttribute):
        compile_template("{{ context.x }}").render({}, {})


def test_compile_template_refuses_a_syntax_error() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError):
        compile_template("{{ profile.firstName")


def test_compiled_content_renders_every_field() -> None:
    content = CompiledContent.of({"subject": "Hi {{ profile.n }}", "html": "{{ profile.n|upper }}"})
    assert [t.fast for t in content.fields.values()] == [True, False]
    assert content.render({"n": "ann"}, {}) == {"subject": "Hi ann", "html": "ANN"}


NAMES = st.sampled_from(["a", "b", "city", "first_name", "x1", "Zed"])
LEAVES = st.one_of(
    st.text(max_size=8),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
DATA = st.recursive(LEAVES, lambda inner: st.dictionaries(NAMES, inner, max_size=4), max_leaves=8)
LITERAL = st.text(
    alphabet=st.characters(exclude_characters="{}%#\r", exclude_categories=["Cs"]),
    max_size=12,
)
SPACE = st.sampled_from(["", " ", "  ", "\t", "\n"])


@st.composite
def substitution(draw: st.DrawFn) -> str:
    root = draw(st.sampled_from(["profile", "context"]))
    path = ".".join(draw(st.lists(NAMES, min_size=1, max_size=3)))
    return f"{{{{{draw(SPACE)}{root}.{path}{draw(SPACE)}}}}}"


@st.composite
def pure_templates(draw: st.DrawFn) -> str:
    return "".join(draw(st.lists(st.one_of(LITERAL, substitution()), max_size=6)))


def mapping(value: object) -> Mapping[str, Any]:
    return MappingProxyType(value if isinstance(value, dict) else {})


@settings(max_examples=300, deadline=None)
@given(source=pure_templates(), profile=DATA, context=DATA)
def test_the_fast_path_renders_exactly_like_jinja(
    source: str, profile: object, context: object
) -> None:
    compiled = compile_template(source)
    assert compiled.fast is True
    attributes, api = mapping(profile), mapping(context)
    assert outcome(lambda: compiled.render(attributes, api)) == outcome(
        lambda: jinja(source, attributes, api)
    )


@st.composite
def braced_templates(draw: st.DrawFn) -> str:
    """Pure substitutions mixed with stray braces, percent and hash signs."""
    stray = st.text(alphabet="{}%#- ab", max_size=3)
    return "".join(draw(st.lists(st.one_of(LITERAL, stray, substitution()), max_size=6)))


@settings(max_examples=300, deadline=None)
@given(source=braced_templates(), profile=DATA)
def test_any_template_jinja_accepts_renders_like_jinja(source: str, profile: object) -> None:
    if check_template(source) is not None:
        return  # activation refuses it; the runner never compiles it
    attributes = mapping(profile)
    compiled = compile_template(source)
    assert outcome(lambda: compiled.render(attributes, {})) == outcome(
        lambda: jinja(source, attributes, {})
    )


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_the_fast_path_normalizes_newlines_like_jinja(newline: str) -> None:
    source = f"Hi {{{{ profile.n }}}},{newline}bye"
    compiled = compile_template(source)
    assert compiled.render({"n": "Ann"}, {}) == jinja(source, {"n": "Ann"}, {})


def iter_sources() -> Iterator[str]:
    yield from ESCAPES
    yield from WRITERS


def test_every_escape_is_refused_by_check_template() -> None:
    for source in iter_sources():
        problem = check_template(source)
        assert problem is not None, source
        assert problem.startswith("forbidden construct"), source
